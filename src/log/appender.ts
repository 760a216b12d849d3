/**
 * A buffered, ordered, bounded append-writer shared by the protocol log and the tracking log.
 *
 * Contract: `append(path, text)` is synchronous and never throws; texts reach their files in call
 * order (consecutive texts for the same file are coalesced into one run of writes). Memory is bounded:
 * texts are copied into a few reusable blocks as they are appended (no object is kept per text, so a
 * flood of short lines costs its bytes and nothing more), and when more than `maxBufferBytes` are
 * waiting, further texts are dropped and counted, and the count is reported in the file (via
 * `notice`) just before the next text that is written. Before that point, `congested` tells writers
 * to wait for `onDrain` (the connection stops reading its client, as it does for unread replies), so a
 * flood is slowed to the disk's pace instead of losing lines. A failed write loses its texts (counted
 * the same way) and is reported once per run of failures through `onError`; the next write reopens
 * the file, so logging resumes when the disk recovers. Logging must never take the mail service down,
 * which is why nothing here throws or rejects.
 * Every time a file is opened, `header(path)` (if given) is written first: W3C logs start each
 * session's block with a fresh header, including after a restart onto an existing file.
 */
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeAll } from '../fs/durable-write.js';
import { realClock, type Clock } from '../time/clock.js';
import { BLOCK, TextBlocks, type Span } from './text-blocks.js';

export interface AppenderOptions {
  /** Upper bound on bytes waiting to be written; a few MB by default. */
  readonly maxBufferBytes?: number;
  /**
   * Text written whenever a file is opened (after a switch of file, a restart or a failed write);
   * `at` is when the first text now being written was appended, so injected clocks give fixed output.
   */
  readonly header?: (path: string, at: Date) => string;
  /** Text recording that `count` texts were lost, written where they would have been. */
  readonly notice?: (count: number) => string;
  readonly onError?: (e: Error) => void;
  readonly clock?: Clock;
}

/** A run of texts for one file, held as filled parts of blocks. */
interface Segment {
  readonly path: string;
  readonly at: Date;
  /** Texts lost just before this run, to be reported ahead of it. */
  readonly lostBefore: number;
  readonly parts: Span[];
  texts: number;
}

export const DEFAULT_MAX_BUFFER_BYTES = 4 * 1024 * 1024;
/**
 * How long a short run waits for company before it is written: lines arriving together share one
 * write (and one trip to the thread pool) instead of costing one each. A full block goes at once.
 */
const LINGER_MS = 10;

export class Appender {
  readonly #max: number;
  readonly #header: ((path: string, at: Date) => string) | undefined;
  readonly #notice: ((count: number) => string) | undefined;
  readonly #onError: ((e: Error) => void) | undefined;
  readonly #clock: Clock;
  #queue: Segment[] = [];
  #bytes = 0;
  #lost = 0;
  #lastPath: string | undefined;
  /** The block being filled, how much of it is used, and how many queued spans each block holds. */
  readonly #blocks = new TextBlocks();
  #drainWaiters: Array<() => void> = [];
  /** Texts accepted so far, and texts written (or lost) so far: a flush waits for the second to reach the first. */
  #accepted = 0;
  #settled = 0;
  #flushWaiters: Array<{ readonly upTo: number; readonly resolve: () => void }> = [];
  #handle: FileHandle | undefined;
  #handlePath: string | undefined;
  #running: Promise<void> | undefined;
  /** Ends the current linger early (a block filled, or the appender is closing). */
  #stopLingering: (() => void) | undefined;
  #failing = false;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(options: AppenderOptions = {}) {
    this.#max = options.maxBufferBytes ?? DEFAULT_MAX_BUFFER_BYTES;
    this.#header = options.header;
    this.#notice = options.notice;
    this.#onError = options.onError;
    this.#clock = options.clock ?? realClock;
  }

  /** Queues `text` for `path`. Returns false if it was dropped (buffer full or closed). */
  append(path: string, text: string): boolean {
    const length = Buffer.byteLength(text, 'utf8');
    // Always admit one text into an empty queue, so a single oversized text is not lost forever.
    if (this.#closed || (this.#bytes + length > this.#max && this.#queue.length > 0)) {
      this.#lost++;
      return false;
    }
    const segment = this.#segmentFor(path);
    segment.texts++;
    this.#accepted++;
    this.#copy(segment, text, length);
    if (this.#bytes >= BLOCK) this.#stopLingering?.();
    return true;
  }

  /** Bytes waiting to be written. */
  get bufferedBytes(): number {
    return this.#bytes;
  }

  /** More than half the bound is waiting: writers should wait for `onDrain` before adding more. */
  get congested(): boolean {
    return this.#bytes > this.#max / 2;
  }

  /** Calls `fn` once no longer congested (at once if not), or when the appender closes. */
  onDrain(fn: () => void): void {
    if (this.congested && !this.#closed) this.#drainWaiters.push(fn);
    else queueMicrotask(fn);
  }

  /**
   * Resolves when everything appended before the call is written or given up (without waiting for
   * a pause: texts keep coming on a busy server). A lingering run is written at once.
   */
  flush(): Promise<void> {
    const upTo = this.#accepted;
    if (this.#settled >= upTo || this.#running === undefined) return Promise.resolve();
    this.#stopLingering?.();
    return new Promise((resolve) => this.#flushWaiters.push({ upTo, resolve }));
  }

  /** Resolves once nothing is left to write (closing: no text comes any more). */
  async #idle(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
  }

  /** Flushes, records any still-unreported losses, and closes the file. Later appends are dropped. */
  close(): Promise<void> {
    // Every caller waits for the same close, so none returns while the file is still open.
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#stopLingering?.();
    await this.#idle();
    this.#closed = true;
    this.#wake();
    if (this.#lost > 0 && this.#lastPath !== undefined) {
      this.#segmentFor(this.#lastPath);
      await this.#idle();
    }
    await this.#closeHandle();
  }

  /** The queued run `path`'s next text joins; a new one after a switch of file or a loss. */
  #segmentFor(path: string): Segment {
    const last = this.#queue[this.#queue.length - 1];
    if (last !== undefined && last.path === path && this.#lost === 0) return last;
    const segment: Segment = { path, at: this.#clock.now(), lostBefore: this.#lost, parts: [], texts: 0 };
    this.#lost = 0;
    this.#lastPath = path;
    this.#queue.push(segment);
    this.#running ??= this.#drain();
    return segment;
  }

  #copy(segment: Segment, text: string, length: number): void {
    this.#bytes += length;
    this.#blocks.copy(segment.parts, text, length);
  }

  /** A span was written (or lost): its block may be reused once nothing queued refers to it. */
  #release(span: Span): void {
    this.#bytes -= span.end - span.start;
    this.#blocks.release(span);
  }

  #wake(): void {
    if (this.congested && !this.#closed) return;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const fn of waiters) fn();
  }

  async #drain(): Promise<void> {
    try {
      // Yield first, so `#running` is always assigned before the `finally` below can clear it.
      await null;
      for (;;) {
        await this.#linger();
        const first = this.#queue[0];
        if (first === undefined) break;
        // Take the runs for the same file, so a burst costs one open and a few block-sized writes.
        let n = 0;
        while (this.#queue[n]?.path === first.path) n++;
        const batch = this.#queue.splice(0, n);
        await this.#write(first.path, batch);
        for (const segment of batch) {
          for (const span of segment.parts) this.#release(span);
          this.#settled += segment.texts;
        }
        this.#wake();
        this.#settle();
      }
    } finally {
      this.#running = undefined;
      // Nothing is left to write: every flush is answered (texts lost to a failure count as settled).
      this.#settled = this.#accepted;
      this.#settle();
    }
  }

  /** Answers the flushes whose texts are all written. */
  #settle(): void {
    const waiting = this.#flushWaiters;
    this.#flushWaiters = waiting.filter((w) => w.upTo > this.#settled);
    for (const w of waiting) if (w.upTo <= this.#settled) w.resolve();
  }

  #linger(): Promise<void> | undefined {
    if (this.#bytes >= BLOCK || this.#closing !== undefined) return undefined;
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#stopLingering = undefined;
        resolve();
      };
      const timer = setTimeout(done, LINGER_MS); // real time: write batching, not a timestamp or timeout
      this.#stopLingering = done;
    });
  }

  async #write(path: string, batch: readonly Segment[]): Promise<void> {
    try {
      const handle = await this.#fileFor(path, batch[0]?.at ?? this.#clock.now());
      for (const segment of batch) {
        if (segment.lostBefore > 0 && this.#notice !== undefined) await handle.appendFile(this.#notice(segment.lostBefore), 'utf8');
        await writeAll(
          handle,
          segment.parts.map((span) => span.buf.subarray(span.start, span.end)),
        );
      }
      this.#failing = false;
    } catch (e) {
      // The texts (and losses they carried) are gone; count them so the next write reports them.
      for (const segment of batch) this.#lost += segment.texts + segment.lostBefore;
      await this.#closeHandle();
      this.#report(e);
    }
  }

  async #fileFor(path: string, at: Date): Promise<FileHandle> {
    if (this.#handle !== undefined && this.#handlePath === path) return this.#handle;
    await this.#closeHandle();
    // Logs name senders and recipients: readable by the owner and its group (adm-style), no one else.
    await mkdir(dirname(path), { recursive: true, mode: 0o750 });
    const handle = await open(path, 'a', 0o640);
    try {
      if (this.#header !== undefined) await handle.appendFile(this.#header(path, at), 'utf8');
    } catch (e) {
      await handle.close().catch(() => undefined);
      throw e;
    }
    this.#handle = handle;
    this.#handlePath = path;
    return handle;
  }

  async #closeHandle(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    this.#handlePath = undefined;
    if (handle !== undefined) await handle.close().catch((e: unknown) => this.#report(e));
  }

  #report(e: unknown): void {
    if (this.#failing) return;
    this.#failing = true;
    try {
      this.#onError?.(e instanceof Error ? e : new Error(String(e)));
    } catch {
      // A throwing callback must not turn a log failure into an unhandled rejection.
    }
  }
}
