/** What delivery to a domain needs: the route's options and the shared context (routing, pool, quirks, clock, logs). */
import type { Clock } from '../time/clock.js';
import type { SessionPool, SessionSecurity } from './pool.js';
import type { DnsResolver, NextHop, RoutingTable } from './routes.js';
import type { Quirk, QuirkStore } from './quirks.js';
import type { BdatInFlight } from './in-flight.js';
import type { Problem } from './decisions.js';
import type { TlsRequirement } from './tls-policy.js';
import type { Myself } from './loop.js';

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
  /** Chunk timings, and what the connect and reply timeouts run on (the real clock when unset). */
  readonly clock?: Clock;
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
