/**
 * Delivers one message to the recipients of one domain: routes, then tries each next hop in order
 * until one takes a transaction (RFC 5321 5.1: go on to the next MX on connection failures and
 * 4xx greetings; deliver-hop.ts). Returns an outcome per recipient; never throws for peer or
 * network trouble.
 *
 * The path to a hop may be hostile to BDAT (an ESMTP-inspecting firewall). When BDAT fails in a way
 * that points at the path or the EHLO keywords come back masked, the hop is remembered as "no-bdat"
 * and the message is sent again at once by DATA on a new connection. Nothing was acknowledged by the
 * failed attempt, so nothing is duplicated; with `fallback` off the message is simply retried later.
 * A failed opportunistic TLS handshake is remembered the same way ("no-tls") and the message goes
 * again in clear text; a peer slow on every chunk gets one chunk (decisions.ts).
 *
 * While a hop's BDAT health is unknown, a BDAT transfer starts with a small non-final check chunk
 * answered within `bdatCheckTimeoutMs` (bdat-health.ts), so a black hole costs that wait rather than
 * the end-of-data reply timeout; a passed check is remembered as "bdat-ok". When BDAT is found broken,
 * other BDAT transfers to the hop that have not sent their last chunk are stopped and resent by DATA.
 */
import type { Timers } from '../time/timers.js';
import type { SessionPool, SessionSecurity } from './pool.js';
import { route, type DnsResolver, type NextHop, type RoutingTable } from './routes.js';
import type { Quirk, QuirkStore } from './quirks.js';
import type { BdatInFlight } from './in-flight.js';
import type { DomainDelivery, OutboundMessage } from './delivery-result.js';
import { deliverToHop, type Problem } from './deliver-hop.js';
import { describeRequirement, type TlsRequirement } from './tls-policy.js';
import { LOOP_STATUS, withoutMyself, type Myself } from './loop.js';

export type { DomainDelivery };

/** Options for one domain's route: what the content may use, the session's security, the fallback. */
export interface RouteOptions {
  /** Outbound options allow BDAT (mask bit 0x2 and `chunking = "auto"`). */
  readonly allowBdat: boolean;
  readonly allowPipelining: boolean;
  readonly allowBinarymime: boolean;
  readonly chunkSize: number;
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
  /** What the connect and reply timeouts run on (the real timers when unset). */
  readonly timers?: Timers;
  /** Told of each path problem learnt (tracking log); not of "bdat-ok". */
  readonly learnt?: (quirk: Quirk & { readonly kind: Problem }) => void;
  /** Every outbound command and response, for the W3C log. */
  readonly log?: (hop: NextHop, direction: 'command' | 'response', text: string) => void;
  /** MTA-STS: which MX hosts, and whether verified TLS is required (absent for routes and smart hosts). */
  readonly tlsPolicy?: (domain: string, hops: readonly NextHop[]) => Promise<TlsRequirement>;
  /** Barge's own name and listeners: mail must not loop back to them. */
  readonly myself?: Myself;
  /** Told of a bug that ended a session to `destination` (HOST:PORT); the message is deferred. */
  readonly bug?: (error: unknown, destination: string) => void;
  /** Tests only: see SessionSocketOptions.fault (never set by `barge serve`). */
  readonly fault?: (replies: string) => void;
}

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
