/**
 * Delivers one message to the recipients of one domain: routes, then tries each next hop in order
 * until one takes a transaction (RFC 5321 5.1: go on to the next MX on connection failures and
 * 4xx greetings). Returns an outcome per recipient; never throws for peer or network trouble.
 */
import type { ConnectOptions } from './connection.js';
import type { Session, SessionPool } from './pool.js';
import { route, type DnsResolver, type NextHop, type RoutingTable } from './routes.js';
import { transfer, PeerRefused, type OutboundMessage, type RecipientOutcome, type TransferOptions } from './transfer.js';
import { replyText } from '../protocol/reply-parser.js';

export interface DeliveryContext {
  readonly heloName: string;
  readonly routing: RoutingTable;
  readonly dns: DnsResolver;
  /** Transfer options for a domain (global switches, or its route's overrides). */
  readonly transfer: (domain: string) => TransferOptions;
  readonly connectTimeoutMs: number;
  readonly replyTimeoutMs: number;
  readonly pool: SessionPool;
  /** Every outbound command and response, for the W3C log. */
  readonly log?: (hop: NextHop, direction: 'command' | 'response', text: string) => void;
}

export interface DomainDelivery {
  readonly outcomes: readonly RecipientOutcome[];
  /** The hop that took the transaction, if any. */
  readonly hop?: NextHop;
  readonly method?: 'DATA' | 'BDAT';
  readonly chunks?: number;
  readonly converted?: string;
}

export async function deliverToDomain(domain: string, message: OutboundMessage, ctx: DeliveryContext): Promise<DomainDelivery> {
  const r = await route(domain, ctx.routing, ctx.dns);
  const everyone = (kind: 'temporary' | 'permanent', status: string, detail: string): DomainDelivery => ({
    outcomes: message.rcpts.map((rc) => ({ address: rc.address, kind, status, detail })),
  });
  if (r.kind === 'fail') return everyone(r.permanent ? 'permanent' : 'temporary', r.status, r.detail);
  const problems: string[] = [];
  for (const hop of r.hops) {
    const options: ConnectOptions = {
      host: hop.host,
      port: hop.port,
      connectTimeoutMs: ctx.connectTimeoutMs,
      replyTimeoutMs: ctx.replyTimeoutMs,
      ...(ctx.log === undefined ? {} : { log: (direction: 'command' | 'response', text: string) => ctx.log?.(hop, direction, text) }),
    };
    // A kept session may have been closed by the peer meanwhile: then one fresh try on the same hop.
    for (const fresh of [false, true]) {
      let session: Session | undefined;
      try {
        session = await ctx.pool.acquire(options, fresh);
        const result = await transfer(session.conn, session.caps, message, ctx.transfer(domain));
        ctx.pool.release(options, session, true);
        return { outcomes: result.outcomes, hop, method: result.method, chunks: result.chunks, ...(result.converted === undefined ? {} : { converted: result.converted }) };
      } catch (e) {
        if (session !== undefined) ctx.pool.release(options, session, false);
        const stale = session?.reused === true && !(e instanceof PeerRefused);
        if (stale) continue;
        // A 5xx greeting or EHLO/HELO refusal is final for this host only; try the next one.
        problems.push(`${hop.name}[${hop.host}]:${hop.port}: ${e instanceof PeerRefused ? `${e.stage} ${replyText(e.reply)}` : e instanceof Error ? e.message : String(e)}`);
        break;
      }
    }
  }
  return everyone('temporary', '4.4.1', `no mail server of ${domain} took the message: ${problems.join('; ')}`);
}
