/**
 * Sends a message's content by BDAT (RFC 3030 2) on a connection whose envelope was accepted, and
 * times each chunk's answer. On a path of unknown health the first chunk is a small non-final check
 * chunk whose answer is awaited with a short timeout (see bdat-health.ts); silence, a reset or a
 * refusal there, like any later loss of the connection, becomes a BdatPathFailure.
 *
 * An exactly sized message streams from the spool with each chunk's size announced before its bytes;
 * a converted one (length unknown) is gathered chunk by chunk, bounded. BDAT content is never stuffed.
 */
import { replyText, type PeerReply } from '../protocol/reply-parser.js';
import { SmtpFailure, type ClientConnection } from './connection.js';
import type { OutboundMessage } from './transfer.js';
import { CHECK_CHUNK_BYTES, checkLength, describeFailure, isPathFailure, judgeChunk, nextChunkLength, type ChunkAnswer, type ChunkVerdict } from './bdat-health.js';

/**
 * BDAT failed in a way that points at the path, not the message (RFC 3030 offers no reason for
 * these): the connection was reset or went silent after a BDAT command or mid-chunk, or BDAT was
 * answered "unrecognized"/"not implemented" although CHUNKING was advertised. Nothing was accepted.
 */
export class BdatPathFailure extends Error {}

export interface BdatPlan {
  readonly chunkSize: number;
  readonly pipelining: boolean;
  /** Start with a check chunk whose answer is awaited this long (the path's health is unknown). */
  readonly checkTimeoutMs?: number;
  /** A non-final chunk answered later than this is delayed (2000 when unset). */
  readonly slowChunkMs?: number;
  /** Milliseconds for chunk timings (Date.now when unset). */
  readonly now?: () => number;
  /**
   * Called before the first BDAT with a function that stops this transfer; returns a function called
   * before the LAST chunk goes out, after which the transfer may no longer be stopped (its final reply
   * could be a delivery, so stopping it could duplicate the message).
   */
  readonly abortable?: (abort: (reason: string) => void) => () => void;
}

export interface BdatResult {
  readonly final: PeerReply;
  readonly chunks: number;
  /** How the check chunk was answered, when one was sent. */
  readonly check?: { readonly verdict: ChunkVerdict; readonly ms: number };
  /** Answer times of the non-final chunks (the check chunk included). */
  readonly nonFinalMs: readonly number[];
}

const MAX_GATHERED_CHUNK = 16 * 1024 * 1024;

/** Sends by BDAT; a failure that points at the path becomes a BdatPathFailure. */
export async function sendBdatOrExplain(conn: ClientConnection, message: OutboundMessage, exactSize: boolean, plan: BdatPlan): Promise<BdatResult> {
  const s = new ChunkSender(conn, plan);
  let result: BdatResult;
  try {
    // A converted message's length is unknown, so its chunks are gathered in memory: keep them bounded.
    result = exactSize ? await sendExact(s, message) : await sendGathered(s, message, Math.min(plan.chunkSize, MAX_GATHERED_CHUNK));
  } catch (e) {
    conn.destroy();
    if (s.stopped !== undefined) throw new BdatPathFailure(s.stopped);
    if (e instanceof BdatPathFailure) throw e;
    throw new BdatPathFailure(`connection lost or silent after BDAT: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    s.leave();
  }
  // 500/502/504 mean the command itself was not understood: a device on the path answered for a
  // peer that advertised CHUNKING. 503 and 5.5.x after a good start would also fit; keep to these.
  if (judgeChunk({ kind: 'reply', code: result.final.code, ms: 0 }, true, Infinity) === 'refused') {
    conn.destroy();
    throw new BdatPathFailure(`BDAT answered "${replyText(result.final)}" although CHUNKING was advertised`);
  }
  return result;
}

/** Chunk headers, the check, reply collection and timings for one transaction. */
class ChunkSender {
  readonly #conn: ClientConnection;
  readonly #plan: BdatPlan;
  readonly #now: () => number;
  #leave: (() => void) | undefined;
  #current: { readonly length: number; readonly last: boolean; readonly check: boolean } | undefined;
  readonly #outstanding: Array<{ readonly sentAt: number; readonly last: boolean }> = [];
  chunks = 0;
  readonly nonFinalMs: number[] = [];
  check: BdatResult['check'];
  failure: PeerReply | undefined;
  lastReply: PeerReply | undefined;
  /** A tarpit answered the check: the rest goes as one chunk. */
  bigChunks = false;
  /** Why the transfer was stopped from outside, if it was. */
  stopped: string | undefined;

  constructor(conn: ClientConnection, plan: BdatPlan) {
    this.#conn = conn;
    this.#plan = plan;
    this.#now = plan.now ?? Date.now;
    this.#leave = plan.abortable?.((reason) => {
      this.stopped ??= reason;
      conn.destroy();
    });
  }

  get chunkSize(): number {
    return this.#plan.chunkSize;
  }

  write(bytes: Buffer): Promise<void> {
    return this.#conn.write(bytes);
  }

  /** True while the next chunk would be the check chunk. */
  get wantsCheck(): boolean {
    return this.#plan.checkTimeoutMs !== undefined && this.chunks === 0;
  }

  leave(): void {
    this.#leave?.();
    this.#leave = undefined;
  }

  /** Writes a chunk's header with its first bytes (one corked write). */
  async open(length: number, last: boolean, first: readonly Buffer[]): Promise<void> {
    const check = this.wantsCheck && !last;
    this.chunks++;
    if (last) this.leave();
    const header = `BDAT ${length}${last ? ' LAST' : ''}`;
    this.#conn.logCommand(header);
    this.#current = { length, last, check };
    await this.#conn.write([Buffer.from(`${header}\r\n`), ...first]);
  }

  /** The current chunk's bytes are all written: await what must be awaited before the next. */
  async close(): Promise<void> {
    const c = this.#current;
    this.#current = undefined;
    if (c === undefined) return;
    if (c.check) return this.#awaitCheck(c.length);
    this.#outstanding.push({ sentAt: this.#now(), last: c.last });
    if (!this.#plan.pipelining) await this.collect();
  }

  async #awaitCheck(octets: number): Promise<void> {
    const t0 = this.#now();
    let answer: ChunkAnswer;
    let reply: PeerReply | undefined;
    try {
      reply = await this.#conn.reply('BDAT', this.#plan.checkTimeoutMs);
      answer = { kind: 'reply', code: reply.code, ms: this.#now() - t0 };
    } catch (e) {
      answer = { kind: e instanceof SmtpFailure && e.timeout ? 'timeout' : 'closed', ms: this.#now() - t0 };
    }
    const verdict = judgeChunk(answer, false, this.#plan.slowChunkMs ?? 2000);
    if (isPathFailure(verdict)) throw new BdatPathFailure(describeFailure(verdict, answer, octets, reply === undefined ? '' : replyText(reply)));
    this.check = { verdict, ms: answer.ms };
    this.nonFinalMs.push(answer.ms);
    this.lastReply = reply;
    if (verdict === 'rejected') this.failure = reply;
    if (verdict === 'delayed') this.bigChunks = true;
  }

  /** Reads the replies owed for chunks sent; a failed chunk fails the transaction (RFC 3030 2). */
  async collect(): Promise<void> {
    for (let c = this.#outstanding.shift(); c !== undefined; c = this.#outstanding.shift()) {
      const reply = await this.#conn.reply('BDAT');
      if (!c.last) this.nonFinalMs.push(this.#now() - c.sentAt);
      this.lastReply = reply;
      if (reply.code !== 250) this.failure ??= reply;
    }
  }

  async finish(): Promise<BdatResult> {
    await this.collect();
    const final = this.failure ?? this.lastReply;
    if (final === undefined) throw new Error('BDAT ended without a reply');
    if (this.failure !== undefined) await this.#conn.command('RSET').catch(() => undefined);
    return { final, chunks: this.chunks, nonFinalMs: this.nonFinalMs, ...(this.check === undefined ? {} : { check: this.check }) };
  }
}

/**
 * A message whose exact size is known streams from the spool without being gathered: each chunk's
 * size is announced before its bytes (RFC 3030 2: a chunk may be any size), a small message or a
 * path that delays chunks gets the rest as one `BDAT n LAST`.
 */
async function sendExact(s: ChunkSender, message: OutboundMessage): Promise<BdatResult> {
  let remaining = message.size;
  let left = 0;
  for await (const data of message.open()) {
    let buf = data as Buffer;
    while (buf.length > 0 && s.failure === undefined) {
      let next: { length: number; last: boolean } | undefined;
      if (left === 0) {
        // The count was promised in the header: more bytes would be read by the peer as commands.
        if (remaining === 0) throw new Error(`message is longer than its recorded size ${message.size}`);
        const check = s.wantsCheck ? checkLength(remaining) : undefined;
        next = check === undefined ? nextChunkLength(remaining, s.bigChunks ? Infinity : s.chunkSize) : { length: check, last: false };
        left = next.length;
      }
      const piece = buf.subarray(0, Math.min(left, buf.length));
      await (next === undefined ? s.write(piece) : s.open(next.length, next.last, [piece]));
      buf = buf.subarray(piece.length);
      left -= piece.length;
      remaining -= piece.length;
      if (left === 0) await s.close();
    }
    if (s.failure !== undefined) break;
  }
  if (message.size === 0) {
    await s.open(0, true, []);
    await s.close();
  } else if (remaining > 0 && s.failure === undefined) throw new Error(`message is shorter (${message.size - remaining}) than its recorded size ${message.size}`);
  return s.finish();
}

/**
 * Content of unknown length goes in chunks of `chunkSize` (the first one the check chunk when wanted);
 * a full chunk is held back until more content follows, so the end is known without the size. Content
 * that fits the check chunk goes as one `BDAT n LAST`, unchecked: its end is known only then.
 */
async function sendGathered(s: ChunkSender, message: OutboundMessage, chunkSize: number): Promise<BdatResult> {
  const send = async (parts: readonly Buffer[], length: number, last: boolean): Promise<void> => {
    await s.open(length, last, parts);
    await s.close();
  };
  let parts: Buffer[] = [];
  let length = 0;
  let held: { parts: Buffer[]; length: number } | undefined;
  const limit = (): number => (s.wantsCheck && held === undefined ? CHECK_CHUNK_BYTES : chunkSize);
  for await (const data of message.open()) {
    let buf = data as Buffer;
    while (buf.length > 0 && s.failure === undefined) {
      if (held !== undefined) {
        await send(held.parts, held.length, false);
        held = undefined;
      }
      const take = Math.min(limit() - length, buf.length);
      parts.push(buf.subarray(0, take));
      length += take;
      buf = buf.subarray(take);
      if (length === limit()) {
        held = { parts, length };
        parts = [];
        length = 0;
      }
    }
    if (s.failure !== undefined) break;
  }
  // The last chunk, possibly empty ("BDAT 0 LAST"), unless a chunk already failed (no pipelining).
  if (s.failure === undefined) await (held === undefined ? send(parts, length, true) : send(held.parts, held.length, true));
  return s.finish();
}
