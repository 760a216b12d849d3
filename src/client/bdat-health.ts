/**
 * What BDAT chunk replies say about the path to a peer, pure: timed answers in, verdicts out. Used by
 * delivery (fallback, big chunks, the health check) and by `barge probe`, so both judge alike.
 *
 * RFC 3030 2: a receiver answers a non-final `BDAT n` as soon as it has read the chunk; only the final
 * chunk (`BDAT n LAST`) ends the mail data, and the end of data may legitimately take minutes (content
 * scanning, queueing: RFC 5321 4.5.3.2.6). So a short wait is fair for a non-final chunk only, and
 * only non-final chunk times say anything about a tarpit.
 */

/** Octets of the first, non-final chunk that checks a path of unknown BDAT health. */
export const CHECK_CHUNK_BYTES = 4096;

/** How one chunk was answered, timed from the moment it was sent. */
export type ChunkAnswer =
  | { readonly kind: 'reply'; readonly code: number; readonly ms: number }
  | { readonly kind: 'timeout'; readonly ms: number }
  | { readonly kind: 'closed'; readonly ms: number };

/**
 * ok: accepted in time; delayed: a non-final chunk accepted only after the slow-chunk limit (a tarpit);
 * dropped: no reply (a black hole); reset: the connection went away; refused: 500/502/504, the verb
 * itself unknown although CHUNKING was advertised (a device answering for the peer); rejected: any
 * other error, the peer's own answer to the transaction (not a path failure).
 */
export type ChunkVerdict = 'ok' | 'delayed' | 'dropped' | 'reset' | 'refused' | 'rejected';

/** One chunk of a transfer as the socket shell timed it. */
export interface ChunkTiming {
  readonly check: boolean;
  readonly last: boolean;
  readonly octets: number;
  readonly answer: ChunkAnswer;
}

/** The verdicts that mean "BDAT does not work on this path". */
export type PathFailure = 'dropped' | 'reset' | 'refused';

/** A non-final chunk answered later than this is held by something on the path. */
export function chunkDelayed(ms: number, slowChunkMs: number): boolean {
  return ms > slowChunkMs;
}

export function judgeChunk(answer: ChunkAnswer, final: boolean, slowChunkMs: number): ChunkVerdict {
  switch (answer.kind) {
    case 'timeout':
      return 'dropped';
    case 'closed':
      return 'reset';
    case 'reply':
      if (answer.code === 500 || answer.code === 502 || answer.code === 504) return 'refused';
      if (answer.code < 200 || answer.code >= 300) return 'rejected';
      return !final && chunkDelayed(answer.ms, slowChunkMs) ? 'delayed' : 'ok';
    default:
      return unknownAnswer(answer);
  }
}

export function isPathFailure(v: ChunkVerdict): v is PathFailure {
  return v === 'dropped' || v === 'reset' || v === 'refused';
}

/** Plain words for a path failure, for the quirk's reason and the tracking log; `reply` is the reply's text. */
export function describeFailure(v: PathFailure, answer: ChunkAnswer, octets: number, reply = ''): string {
  const chunk = `a ${octets}-octet non-final BDAT chunk`;
  if (v === 'dropped') return `no reply within ${answer.ms} ms to ${chunk}: BDAT is dropped on this path`;
  if (v === 'reset') return `connection lost after ${chunk} (${answer.ms} ms): BDAT is reset on this path`;
  return `BDAT answered "${reply}" although CHUNKING was advertised`;
}

/**
 * A tarpit holds each non-final chunk: their average answer time (the final chunk left out) above
 * the slow-chunk limit marks the path "big-chunks".
 */
export function tarpitted(nonFinalMs: readonly number[], slowChunkMs: number): boolean {
  if (nonFinalMs.length === 0) return false;
  return chunkDelayed(nonFinalMs.reduce((a, b) => a + b, 0) / nonFinalMs.length, slowChunkMs);
}

/**
 * Pairs each chunk sent with its answer, oldest first (RFC 3030 2: replies come in order), at the
 * times the shell gives; an answer that is a lost connection times the oldest chunk left unanswered.
 */
export class ChunkTimer {
  readonly timings: ChunkTiming[] = [];
  readonly #sent: Array<{ readonly at: number; readonly check: boolean; readonly last: boolean; readonly octets: number }> = [];

  sent(chunk: { readonly check: boolean; readonly last: boolean; readonly octets: number }, at: number): void {
    this.#sent.push({ at, check: chunk.check, last: chunk.last, octets: chunk.octets });
  }

  answered(a: { readonly kind: 'reply'; readonly code: number } | { readonly kind: 'timeout' | 'closed' }, at: number): void {
    const chunk = this.#sent.shift();
    if (chunk === undefined) return;
    const ms = at - chunk.at;
    const answer: ChunkAnswer = a.kind === 'reply' ? { kind: 'reply', code: a.code, ms } : { kind: a.kind, ms };
    this.timings.push({ check: chunk.check, last: chunk.last, octets: chunk.octets, answer });
    // After a lost connection no other answer comes.
    if (a.kind !== 'reply') this.#sent.length = 0;
  }
}

/** What one transfer's chunk answers say: the check chunk's verdict, non-final times, and a path failure in words. */
export interface TransferHealth {
  readonly check?: { readonly verdict: ChunkVerdict; readonly ms: number };
  /** Answer times of the non-final chunks (the check chunk included), for a tarpit. */
  readonly nonFinalMs: readonly number[];
  /** Silence or a reset after the check chunk, described for the quirk's reason. */
  readonly pathFailure?: string;
}

export function judgeTransfer(chunks: readonly ChunkTiming[], slowChunkMs: number): TransferHealth {
  const nonFinalMs = chunks.flatMap((c) => (!c.last && c.answer.kind === 'reply' ? [c.answer.ms] : []));
  const first = chunks.find((c) => c.check);
  if (first === undefined) return { nonFinalMs };
  const verdict = judgeChunk(first.answer, false, slowChunkMs);
  const check = { verdict, ms: first.answer.ms };
  if (verdict !== 'dropped' && verdict !== 'reset') return { check, nonFinalMs };
  return { check, nonFinalMs, pathFailure: describeFailure(verdict, first.answer, first.octets) };
}

/**
 * Which sessions BDAT was seen to work on: a device may pass the first transaction of a connection
 * and drop the next, so a reused session is checked once too before the path counts as healthy.
 */
export type BdatHealth = 'new-session' | 'reused-session';

/** Whether the next BDAT transaction must start with a check chunk. */
export function needsCheck(health: BdatHealth | undefined, reused: boolean): boolean {
  if (health === undefined) return true;
  return reused && health === 'new-session';
}

/** The health a passed check establishes, never narrowing what is already known. */
export function healthAfterCheck(health: BdatHealth | undefined, reused: boolean): BdatHealth {
  return reused || health === 'reused-session' ? 'reused-session' : 'new-session';
}

function unknownAnswer(a: never): never {
  throw new Error(`unknown chunk answer ${JSON.stringify(a)}`);
}
