/**
 * What delivery does about a peer's behaviour, as pure functions over the client session's typed
 * outcomes (protocol/client-types.ts): the BDAT-to-DATA fallback, the TLS retry in clear text, the
 * retry of a stale kept connection, adaptive chunking, and the timeout for each awaited reply. No
 * sockets, no clock, no store: the delivery shell applies the decision (learns the quirk, reconnects).
 *
 * The reasons are the words the tracking log and `barge routes` show, so they stay as they were.
 */
import { keywordLines, maskedKeywords } from '../protocol/ehlo.js';
import type { ClientOutcome, PeerCapabilities, ReplyClass } from '../protocol/client-types.js';
import type { QuirkKind } from './quirks.js';
import { healthAfterCheck, tarpitted, type BdatHealth, type TransferHealth } from './bdat-health.js';

/** What is remembered about this destination, as reasons (undefined: nothing learnt). */
export interface KnownQuirks {
  readonly noBdat?: string;
  readonly noTls?: string;
  readonly bigChunks?: string;
}

/** A path problem that can be learnt ("bdat-ok" is a health, not a problem). */
export type Problem = Exclude<QuirkKind, 'bdat-ok'>;

export interface Lesson {
  readonly kind: Problem;
  readonly reason: string;
}

/** How the next transaction on this session should send the content. */
export interface ContentPlan {
  readonly allowBdat: boolean;
  /** Octets per chunk: one chunk for the whole message on a path that delays each chunk. */
  readonly chunkSize: number;
  /** Why DATA is used although BDAT was allowed (for the tracking log). */
  readonly fallback?: string;
  readonly learn?: Lesson;
}

/**
 * Before a transaction: a remembered "no-bdat" means DATA; masked EHLO keywords mean an inspecting
 * device is on the path, so DATA now and "no-bdat" learnt (when the fallback is on); a remembered
 * "big-chunks" means one chunk per message.
 */
export function planContent(
  caps: PeerCapabilities,
  allowBdat: boolean,
  fallbackOn: boolean,
  chunkSize: number,
  known: KnownQuirks,
): ContentPlan {
  const size = known.bigChunks === undefined ? chunkSize : Number.MAX_SAFE_INTEGER;
  if (!allowBdat) return { allowBdat: false, chunkSize: size };
  if (fallbackOn && known.noBdat !== undefined)
    return { allowBdat: false, chunkSize: size, fallback: `DATA instead of BDAT (remembered: ${known.noBdat})` };
  const masked = maskedKeywords(keywordLines(caps.keywords));
  if (fallbackOn && masked.length > 0) {
    const reason = `EHLO keywords masked (${masked.join(' ')}): an ESMTP-inspecting device is on the path`;
    return { allowBdat: false, chunkSize: size, fallback: `DATA instead of BDAT (${reason})`, learn: { kind: 'no-bdat', reason } };
  }
  return { allowBdat: true, chunkSize: size };
}

export type HopDecision =
  /** The transaction has an answer for every recipient (delivered, refused, or not sendable here). */
  | { readonly kind: 'done' }
  /** Connect again at once: without BDAT, in clear text, or simply fresh after a stale kept connection. */
  | { readonly kind: 'retry'; readonly fresh: true; readonly learn?: Lesson; readonly fallback?: string }
  /** This host will not take it now (RFC 5321 5.1: try the next MX); `problem` goes into the DSN text. */
  | { readonly kind: 'nextHop'; readonly problem: string };

export interface AttemptContext {
  /** The route allows the automatic fallback to DATA. */
  readonly fallbackOn: boolean;
  /** The session came from the pool: a failure before any reply may just mean it went stale. */
  readonly reused: boolean;
}

/** After one attempt on a hop: done, retry at once (and learn what), or go on to the next hop. */
export function afterAttempt(outcome: ClientOutcome, ctx: AttemptContext): HopDecision {
  switch (outcome.kind) {
    case 'delivered':
    case 'unsendable':
      return { kind: 'done' };
    case 'rejected':
      // A refused session (greeting, EHLO, AUTH, STARTTLS) is final for this host only.
      return ['MAIL', 'RCPT', 'DATA', 'BDAT'].includes(outcome.stage)
        ? { kind: 'done' }
        : { kind: 'nextHop', problem: outcomeProblem(outcome) };
    case 'pathFailure':
      if (!ctx.fallbackOn) return { kind: 'nextHop', problem: outcomeProblem(outcome) };
      return {
        kind: 'retry',
        fresh: true,
        learn: { kind: 'no-bdat', reason: outcome.reason },
        fallback: `DATA instead of BDAT (${outcome.reason})`,
      };
    case 'tlsFailure':
      // Opportunistic TLS (RFC 7435) may go on in clear text; required TLS may not.
      if (outcome.required) return { kind: 'nextHop', problem: outcomeProblem(outcome) };
      return { kind: 'retry', fresh: true, learn: { kind: 'no-tls', reason: `opportunistic TLS failed: ${outcome.reason}` } };
    case 'timeout':
    case 'connectionLost':
      if (ctx.reused) return { kind: 'retry', fresh: true };
      return { kind: 'nextHop', problem: outcomeProblem(outcome) };
    case 'localFailure':
    case 'ready':
    case 'answer':
      return { kind: 'nextHop', problem: outcomeProblem(outcome) };
    default: {
      const never: never = outcome;
      return never;
    }
  }
}

/** An outcome that is not a delivery, in words for the DSN, the queue state and `barge send`. */
export function outcomeProblem(outcome: ClientOutcome): string {
  switch (outcome.kind) {
    case 'rejected':
      return `${outcome.stage} ${outcome.text}`;
    case 'pathFailure':
      return outcome.reason;
    case 'tlsFailure':
      return `TLS: ${outcome.reason}`;
    case 'timeout':
      return `${outcome.stage}: no reply in time`;
    case 'connectionLost':
    case 'localFailure':
      return `${outcome.stage}: ${outcome.reason}`;
    case 'answer':
      return `${outcome.stage} ${outcome.text}`;
    case 'ready':
    case 'delivered':
    case 'unsendable':
      return 'the session ended before a transaction';
    default: {
      const never: never = outcome;
      return never;
    }
  }
}

/** What a delivered BDAT transfer teaches about its path. */
export interface ChunkLessons {
  /** A passed check: the BDAT health to remember now, and why. */
  readonly health?: { readonly next: BdatHealth; readonly reason: string };
  /** Adaptive chunking: a path that delays non-final chunks (a tarpitting gateway) gets whole messages as one chunk. */
  readonly learn?: Lesson;
}

/**
 * A check answered in time or late makes the path "bdat-ok" for new or reused sessions (never
 * narrowing what is known); a delayed check or slow non-final chunks on average make it "big-chunks",
 * so later messages go as one `BDAT n LAST`, which such gateways pass at once.
 */
export function chunkLessons(
  health: TransferHealth,
  known: KnownQuirks & { readonly bdatOk?: BdatHealth },
  reused: boolean,
  slowChunkMs: number,
): ChunkLessons {
  const check = health.check;
  const passed = check !== undefined && (check.verdict === 'ok' || check.verdict === 'delayed');
  const next = passed ? healthAfterCheck(known.bdatOk, reused) : undefined;
  const reason = `a non-final BDAT chunk was answered in ${check?.ms ?? 0} ms on a ${reused ? 'reused' : 'new'} session`;
  const remember = next === undefined || next === known.bdatOk ? {} : { health: { next, reason } };
  const ms = health.nonFinalMs;
  if (known.bigChunks !== undefined || !(check?.verdict === 'delayed' || tarpitted(ms, slowChunkMs))) return remember;
  const average = Math.round(ms.reduce((a, b) => a + b, 0) / Math.max(1, ms.length));
  const chunks = `${ms.length} non-final chunk${ms.length === 1 ? '' : 's'}`;
  const why = `${chunks} took ${average} ms each on average: the path delays each chunk; whole messages go as one chunk`;
  return { ...remember, learn: { kind: 'big-chunks', reason: why } };
}

export interface ReplyTimeouts {
  /** Greeting and commands (RFC 5321 4.5.3.2 suggests 5 minutes; Barge's `reply_timeout`). */
  readonly commandMs: number;
  /** The health-check chunk: a receiver answers a non-final chunk as soon as it has read it. */
  readonly bdatCheckMs: number;
  /** The end of data: content scanning may run now (RFC 5321 4.5.3.2.6: 10 minutes). */
  readonly endOfDataMs: number;
}

/** How long the shell waits for the reply the session awaits. */
export function replyTimeout(cls: ReplyClass, t: ReplyTimeouts): number {
  switch (cls) {
    case 'greeting':
    case 'command':
    case 'bdat-chunk':
      return t.commandMs;
    case 'bdat-check':
      return t.bdatCheckMs;
    case 'end-of-data':
      return t.endOfDataMs;
    default: {
      const never: never = cls;
      return never;
    }
  }
}
