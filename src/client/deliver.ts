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
 *
 * While a hop's BDAT health is unknown, a BDAT transfer starts with a small non-final check chunk
 * answered within `bdatCheckTimeoutMs` (bdat-health.ts), so a black hole costs that wait rather than
 * the end-of-data reply timeout; a passed check is remembered as "bdat-ok". When BDAT is found broken,
 * other BDAT transfers to the hop that have not sent their last chunk are stopped and resent by DATA.
 */
import type { ConnectOptions } from './connection.js';
import type { Session, SessionPool } from './pool.js';
import { route, type DnsResolver, type NextHop, type RoutingTable } from './routes.js';
import { transfer, BdatPathFailure, PeerRefused, type OutboundMessage, type TransferOptions, type TransferResult } from './transfer.js';
import { TlsHandshakeFailed, type SessionSecurity } from './security.js';
import type { Quirk, QuirkDestination, QuirkKind, QuirkStore } from './quirks.js';
import type { BdatInFlight } from './in-flight.js';
import type { BdatPlan } from './bdat.js';
import type { DomainDelivery } from './delivery-result.js';
export type { DomainDelivery };
import { healthAfterCheck, needsCheck, tarpitted } from './bdat-health.js';
import { formatHostPort } from '../protocol/host-port.js';
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
  /** How long a check chunk may wait for its answer; undefined sends no check chunk. */
  readonly bdatCheckTimeoutMs?: number;
  /** BDAT transfers that may be stopped when the path is found broken. */
  readonly bdatInFlight?: BdatInFlight;
  /** Milliseconds for chunk timings. */
  readonly clock?: () => number;
  /** Told of each path problem learnt (tracking log); not of "bdat-ok". */
  readonly learnt?: (quirk: Quirk & { readonly kind: Problem }) => void;
  /** Every outbound command and response, for the W3C log. */
  readonly log?: (hop: NextHop, direction: 'command' | 'response', text: string) => void;
  /** MTA-STS: which MX hosts, and whether verified TLS is required (absent for routes and smart hosts). */
  readonly tlsPolicy?: (domain: string, hops: readonly NextHop[]) => Promise<TlsRequirement>;
  /** Barge's own name and listeners: mail must not loop back to them. */
  readonly myself?: Myself;
}

type Problem = Exclude<QuirkKind, 'bdat-ok'>;

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
  const learn = async (kind: Problem, reason: string): Promise<void> => {
    const quirk = await ctx.quirks?.remember(destination, kind, reason, ctx.quirkTtlMs ?? DAY_MS).catch(() => undefined);
    if (quirk !== undefined) ctx.learnt?.({ ...quirk, kind });
  };
  let fallback: string | undefined;
  let fresh = false;
  // At most: a stale kept session, a BDAT fallback and a TLS fallback, each retried once.
  for (let tries = 0; tries < 4; tries++) {
    const noTls = ctx.quirks?.get(destination, 'no-tls');
    const security: SessionSecurity = { ...options.security, servername: hop.name, skipTls: noTls !== undefined };
    let session: Session | undefined;
    try {
      session = await ctx.pool.acquire(connect, fresh, security);
      const loop = loopOutcomes(ctx.myself, domain, session, hop.port, message.rcpts);
      if (loop !== undefined) {
        ctx.pool.release(connect, session, false);
        return { outcomes: loop, hop };
      }
      // Read after the wait for a session: another transfer may have learnt something meanwhile.
      const noBdat = options.fallback ? ctx.quirks?.get(destination, 'no-bdat') : undefined;
      const bigChunks = ctx.quirks?.get(destination, 'big-chunks');
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
      const reused = session.reused;
      const result = await transfer(session.conn, session.caps, message, transferOptions, bdatPlan(ctx, destination, reused));
      ctx.pool.release(connect, session, true);
      if (result.method === 'BDAT') await learnFromChunks(ctx, destination, result, reused, learn);
      return {
        outcomes: result.outcomes, hop, method: result.method, chunks: result.chunks,
        ...(result.converted === undefined ? {} : { converted: result.converted }),
        ...(fallback === undefined || result.method !== 'DATA' ? {} : { fallback }),
      };
    } catch (e) {
      if (session !== undefined) ctx.pool.release(connect, session, false);
      fresh = true;
      if (e instanceof BdatPathFailure && options.fallback) {
        const known = ctx.quirks?.get(destination, 'no-bdat');
        if (known === undefined) {
          const learning = learn('no-bdat', e.message);
          ctx.bdatInFlight?.stopAll(formatHostPort(hop), `${e.message} (found by another transfer to ${formatHostPort(hop)})`);
          await learning;
          await ctx.quirks?.forget(destination, 'bdat-ok').catch(() => undefined);
        }
        fallback = `DATA instead of BDAT (${known?.reason ?? e.message})`;
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

/** What a BDAT transfer to this hop needs: a check chunk while its health is unknown, a clock, a stop hook. */
function bdatPlan(ctx: DeliveryContext, destination: QuirkDestination, reused: boolean): Omit<BdatPlan, 'chunkSize' | 'pipelining'> {
  const health = ctx.quirks?.get(destination, 'bdat-ok')?.health;
  const check = ctx.bdatCheckTimeoutMs !== undefined && needsCheck(health, reused);
  const inFlight = ctx.bdatInFlight;
  return {
    // Never longer than any other reply may take.
    ...(check ? { checkTimeoutMs: Math.min(ctx.bdatCheckTimeoutMs ?? Infinity, ctx.replyTimeoutMs) } : {}),
    ...(ctx.slowChunkMs === undefined ? {} : { slowChunkMs: ctx.slowChunkMs }),
    ...(ctx.clock === undefined ? {} : { now: ctx.clock }),
    ...(inFlight === undefined ? {} : { abortable: (stop: (reason: string) => void) => inFlight.enter(formatHostPort(destination), stop) }),
  };
}

/** A passed check makes the hop "bdat-ok"; a delayed check or slow non-final chunks make it "big-chunks". */
async function learnFromChunks(
  ctx: DeliveryContext,
  destination: QuirkDestination,
  result: TransferResult,
  reused: boolean,
  learn: (kind: Problem, reason: string) => Promise<void>,
): Promise<void> {
  const check = result.check;
  if (check !== undefined && (check.verdict === 'ok' || check.verdict === 'delayed')) {
    const health = ctx.quirks?.get(destination, 'bdat-ok')?.health;
    const next = healthAfterCheck(health, reused);
    const reason = `a non-final BDAT chunk was answered in ${check.ms} ms on a ${reused ? 'reused' : 'new'} session`;
    if (next !== health) await ctx.quirks?.remember(destination, 'bdat-ok', reason, ctx.quirkTtlMs ?? DAY_MS, next).catch(() => undefined);
  }
  if (ctx.quirks?.get(destination, 'big-chunks') !== undefined) return;
  const ms = result.nonFinalMs;
  if (check?.verdict === 'delayed' || tarpitted(ms, ctx.slowChunkMs ?? 2000)) {
    const average = Math.round(ms.reduce((a, b) => a + b, 0) / Math.max(1, ms.length));
    await learn('big-chunks', `${ms.length} non-final chunk${ms.length === 1 ? '' : 's'} took ${average} ms each on average: the path delays each chunk; whole messages go as one chunk`);
  }
}
