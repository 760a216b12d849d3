/**
 * Delivers one message to the recipients of one domain: routes, then tries each next hop in order
 * until one takes a transaction (RFC 5321 5.1: go on to the next MX on connection failures and
 * 4xx greetings). Returns an outcome per recipient; never throws for peer or network trouble.
 *
 * The path to a hop may be hostile to BDAT (an ESMTP-inspecting firewall). When BDAT fails in a way
 * that points at the path (see BdatPathFailure) or the EHLO keywords come back masked, the hop is
 * remembered as "no-bdat" and the message is sent again at once by DATA on a new connection. Nothing
 * was acknowledged by the failed attempt, so nothing is duplicated; with `fallback` off the message
 * is simply retried later. A failed opportunistic TLS handshake is remembered the same way
 * ("no-tls") and the message goes again in clear text; a peer slow on every chunk gets one chunk.
 */
import type { ConnectOptions } from './connection.js';
import type { Session, SessionPool } from './pool.js';
import { route, type DnsResolver, type NextHop, type RoutingTable } from './routes.js';
import { transfer, BdatPathFailure, PeerRefused, type OutboundMessage, type RecipientOutcome, type TransferOptions } from './transfer.js';
import { TlsHandshakeFailed, type SessionSecurity } from './security.js';
import type { Quirk, QuirkDestination, QuirkKind, QuirkStore } from './quirks.js';
import { replyText } from '../protocol/reply-parser.js';
import { keywordLines, maskedKeywords } from '../protocol/ehlo.js';
import { describeRequirement, type TlsRequirement } from './tls-policy.js';
import { LOOP_STATUS, loopOutcomes, withoutMyself, type Myself } from './loop.js';

export interface RouteOptions extends TransferOptions {
  readonly security: Omit<SessionSecurity, 'servername' | 'skipTls'>;
  /** Fall back to DATA (and remember it) when BDAT fails on the path. */
  readonly fallback: boolean;
}

export interface DeliveryContext {
  readonly heloName: string;
  readonly routing: RoutingTable;
  readonly dns: DnsResolver;
  /** Options for a domain (global switches, or its route's overrides). */
  readonly transfer: (domain: string) => RouteOptions;
  readonly connectTimeoutMs: number;
  readonly replyTimeoutMs: number;
  readonly pool: SessionPool;
  /** What is known about hostile paths; none in some tests. */
  readonly quirks?: QuirkStore;
  /** How long a quirk is remembered (24 h by default). */
  readonly quirkTtlMs?: number;
  /** A non-final chunk answered slower than this on average marks the peer "big-chunks". */
  readonly slowChunkMs?: number;
  /** Told of each quirk learnt (tracking log). */
  readonly learnt?: (quirk: Quirk) => void;
  /** Every outbound command and response, for the W3C log. */
  readonly log?: (hop: NextHop, direction: 'command' | 'response', text: string) => void;
  /** MTA-STS: which MX hosts, and whether verified TLS is required (absent for routes and smart hosts). */
  readonly tlsPolicy?: (domain: string, hops: readonly NextHop[]) => Promise<TlsRequirement>;
  /** Barge's own name and listeners: mail must not loop back to them. */
  readonly myself?: Myself;
}

export interface DomainDelivery {
  readonly outcomes: readonly RecipientOutcome[];
  /** The hop that took the transaction, if any. */
  readonly hop?: NextHop;
  readonly method?: 'DATA' | 'BDAT';
  readonly chunks?: number;
  readonly converted?: string;
  /** Why DATA was used although BDAT was allowed: a fallback made now or remembered. */
  readonly fallback?: string;
  /** The TLS policy applied (MTA-STS), for the tracking log. */
  readonly tlsPolicy?: string;
}

const DAY_MS = 86_400_000;

export async function deliverToDomain(domain: string, message: OutboundMessage, ctx: DeliveryContext): Promise<DomainDelivery> {
  const r = await route(domain, ctx.routing, ctx.dns);
  const everyone = (kind: 'temporary' | 'permanent', status: string, detail: string): DomainDelivery => ({
    outcomes: message.rcpts.map((rc) => ({ address: rc.address, kind, status, detail })),
  });
  if (r.kind === 'fail') return everyone(r.permanent ? 'permanent' : 'temporary', r.status, r.detail);
  const hops = ctx.myself === undefined ? r : withoutMyself(domain, r.hops, ctx.myself);
  if ('loop' in hops) return everyone('permanent', LOOP_STATUS, hops.loop);
  await ctx.quirks?.refresh();
  // RFC 8689 5: "TLS-Required: No" waives MTA-STS, unless the REQUIRETLS option asks for the opposite.
  const sts = message.tlsOptional === true && message.requireTls !== true ? undefined : await ctx.tlsPolicy?.(domain, hops.hops);
  const policy = sts === undefined || (sts.kind === 'none' && sts.note === undefined) ? {} : { tlsPolicy: describeRequirement(sts) };
  // RFC 8461 5: MX hosts outside an enforced policy are never tried, and TLS is verified or nothing.
  const base = ctx.transfer(domain);
  // RFC 8689 4.2.1: REQUIRETLS goes only to a host chosen securely (an enforced MTA-STS policy, or a
  // configured route or smart host) over TLS with a verified certificate; otherwise it bounces.
  const fixedHop = ctx.routing.routes.has(domain) || ctx.routing.smartHost !== undefined;
  if (message.requireTls === true && !(sts?.kind === 'mta-sts' && sts.verifiedTls) && !(fixedHop && base.security.tls === 'required')) {
    return { ...everyone('permanent', '5.7.10', `REQUIRETLS: no verified TLS path to ${domain} (no MTA-STS policy in enforce mode, no route with tls = "required")`), ...policy };
  }
  const options = sts?.kind === 'mta-sts' && sts.verifiedTls ? { ...base, security: { ...base.security, tls: 'required' as const, ca: sts.ca } } : base;
  const problems: string[] = [];
  for (const hop of sts?.kind === 'mta-sts' ? sts.hops : hops.hops) {
    const delivered = await deliverToHop(domain, hop, message, options, ctx, problems);
    if (delivered !== undefined) return { ...delivered, ...policy };
  }
  const why = problems.length > 0 ? problems.join('; ') : `no MX host matches its MTA-STS policy (${policy.tlsPolicy ?? ''})`;
  return { ...everyone('temporary', '4.4.1', `no mail server of ${domain} took the message: ${why}`), ...policy };
}

/** One hop: a kept session, else a fresh one; a fresh retry after a stale session, a BDAT or a TLS fallback. */
async function deliverToHop(domain: string, hop: NextHop, message: OutboundMessage, options: RouteOptions, ctx: DeliveryContext, problems: string[]): Promise<DomainDelivery | undefined> {
  const destination: QuirkDestination = hop;
  const connect: ConnectOptions = {
    host: hop.host,
    port: hop.port,
    connectTimeoutMs: ctx.connectTimeoutMs,
    replyTimeoutMs: ctx.replyTimeoutMs,
    ...(ctx.log === undefined ? {} : { log: (direction: 'command' | 'response', text: string) => ctx.log?.(hop, direction, text) }),
  };
  const learn = async (kind: QuirkKind, reason: string): Promise<void> => {
    const quirk = await ctx.quirks?.remember(destination, kind, reason, ctx.quirkTtlMs ?? DAY_MS).catch(() => undefined);
    if (quirk !== undefined) ctx.learnt?.(quirk);
  };
  let fallback: string | undefined;
  let fresh = false;
  // At most: a stale kept session, a BDAT fallback and a TLS fallback, each retried once.
  for (let tries = 0; tries < 4; tries++) {
    const noBdat = options.fallback ? ctx.quirks?.get(destination, 'no-bdat') : undefined;
    const noTls = ctx.quirks?.get(destination, 'no-tls');
    const bigChunks = ctx.quirks?.get(destination, 'big-chunks');
    const security: SessionSecurity = { ...options.security, servername: hop.name, skipTls: noTls !== undefined };
    let session: Session | undefined;
    try {
      session = await ctx.pool.acquire(connect, fresh, security);
      const loop = loopOutcomes(ctx.myself, domain, session, hop.port, message.rcpts);
      if (loop !== undefined) {
        ctx.pool.release(connect, session, false);
        return { outcomes: loop, hop };
      }
      let transferOptions: TransferOptions = { ...options, chunkSize: bigChunks === undefined ? options.chunkSize : Number.MAX_SAFE_INTEGER };
      if (options.allowBdat && noBdat !== undefined) {
        transferOptions = { ...transferOptions, allowBdat: false };
        fallback ??= `DATA instead of BDAT (remembered: ${noBdat.reason})`;
      }
      const masked = maskedKeywords(keywordLines(session.caps.keywords));
      if (options.fallback && options.allowBdat && noBdat === undefined && masked.length > 0) {
        const reason = `EHLO keywords masked (${masked.join(' ')}): an ESMTP-inspecting device is on the path`;
        await learn('no-bdat', reason);
        transferOptions = { ...transferOptions, allowBdat: false };
        fallback = `DATA instead of BDAT (${reason})`;
      }
      const result = await transfer(session.conn, session.caps, message, transferOptions);
      ctx.pool.release(connect, session, true);
      const slow = ctx.slowChunkMs ?? 2000;
      if (result.method === 'BDAT' && result.chunks > 1 && bigChunks === undefined && result.bdatMs / (result.chunks - 1) > slow) {
        await learn('big-chunks', `${result.chunks} chunks took ${result.bdatMs} ms: the path delays each chunk; whole messages go as one chunk`);
      }
      return {
        outcomes: result.outcomes, hop, method: result.method, chunks: result.chunks,
        ...(result.converted === undefined ? {} : { converted: result.converted }),
        ...(fallback === undefined || result.method !== 'DATA' ? {} : { fallback }),
      };
    } catch (e) {
      if (session !== undefined) ctx.pool.release(connect, session, false);
      fresh = true;
      if (e instanceof BdatPathFailure && options.fallback) {
        await learn('no-bdat', e.message);
        fallback = `DATA instead of BDAT (${e.message})`;
        continue;
      }
      if (e instanceof TlsHandshakeFailed) {
        await learn('no-tls', `opportunistic TLS failed: ${e.message}`);
        continue;
      }
      if (session?.reused === true && !(e instanceof PeerRefused) && !(e instanceof BdatPathFailure)) continue;
      // A 5xx greeting or EHLO/HELO refusal is final for this host only; try the next one.
      problems.push(`${hop.name}[${hop.host}]:${hop.port}: ${e instanceof PeerRefused ? `${e.stage} ${replyText(e.reply)}` : e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
  }
  problems.push(`${hop.name}[${hop.host}]:${hop.port}: gave up after repeated failures`);
  return undefined;
}
