/**
 * A buffered, ordered, bounded append-writer shared by the protocol log and the tracking log.
 *
 * Contract: `append(path, text)` is synchronous and never throws; texts reach their files in call
 * order (consecutive texts for the same file are coalesced into one write). Memory is bounded: when
 * more than `maxBufferBytes` are waiting, further texts are dropped and counted, and the count is
 * reported in the file (via `notice`) just before the next text that is written. A failed write loses
 * its texts (counted the same way) and is reported once per run of failures through `onError`; the
 * next write reopens the file, so logging resumes when the disk recovers. Logging must never take the
 * mail service down, which is why nothing here throws or rejects.
 * Every time a file is opened, `header(path)` (if given) is written first: W3C logs start each
 * session's block with a fresh header, including after a restart onto an existing file.
 */
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

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
  readonly now?: () => Date;
}

interface Pending {
  readonly path: string;
  readonly data: Buffer;
  readonly at: Date;
  /** Texts lost just before this one, to be reported ahead of it. */
  readonly lostBefore: number;
}

export const DEFAULT_MAX_BUFFER_BYTES = 4 * 1024 * 1024;

export class Appender {
  readonly #max: number;
  readonly #header: ((path: string, at: Date) => string) | undefined;
  readonly #notice: ((count: number) => string) | undefined;
  readonly #onError: ((e: Error) => void) | undefined;
  readonly #now: () => Date;
  #queue: Pending[] = [];
  #bytes = 0;
  #lost = 0;
  #lastPath: string | undefined;
  #handle: FileHandle | undefined;
  #handlePath: string | undefined;
  #running: Promise<void> | undefined;
  #failing = false;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(options: AppenderOptions = {}) {
    this.#max = options.maxBufferBytes ?? DEFAULT_MAX_BUFFER_BYTES;
    this.#header = options.header;
    this.#notice = options.notice;
    this.#onError = options.onError;
    this.#now = options.now ?? ((): Date => new Date());
  }

  /** Queues `text` for `path`. Returns false if it was dropped (buffer full or closed). */
  append(path: string, text: string): boolean {
    const data = Buffer.from(text, 'utf8');
    // Always admit one text into an empty queue, so a single oversized text is not lost forever.
    if (this.#closed || (this.#bytes + data.length > this.#max && this.#queue.length > 0)) {
      this.#lost++;
      return false;
    }
    this.#enqueue({ path, data, at: this.#now(), lostBefore: this.#lost });
    return true;
  }

  /** Resolves when everything appended so far (and meanwhile) is written or given up. */
  async flush(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
  }

  /** Flushes, records any still-unreported losses, and closes the file. Later appends are dropped. */
  close(): Promise<void> {
    // Every caller waits for the same close, so none returns while the file is still open.
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    await this.flush();
    this.#closed = true;
    if (this.#lost > 0 && this.#lastPath !== undefined) {
      this.#enqueue({ path: this.#lastPath, data: Buffer.alloc(0), at: this.#now(), lostBefore: this.#lost });
      await this.flush();
    }
    await this.#closeHandle();
  }

  #enqueue(item: Pending): void {
    this.#lost = 0;
    this.#lastPath = item.path;
    this.#queue.push(item);
    this.#bytes += item.data.length;
    this.#running ??= this.#drain();
  }

  async #drain(): Promise<void> {
    try {
      // Yield first, so `#running` is always assigned before the `finally` below can clear it.
      await null;
      for (;;) {
        const first = this.#queue[0];
        if (first === undefined) break;
        // Take the run of texts for the same file, so a burst costs one write call.
        let n = 0;
        while (this.#queue[n]?.path === first.path) n++;
        const batch = this.#queue.splice(0, n);
        await this.#write(first.path, batch);
        for (const item of batch) this.#bytes -= item.data.length;
      }
    } finally {
      this.#running = undefined;
    }
  }

  async #write(path: string, batch: readonly Pending[]): Promise<void> {
    try {
      const parts: Buffer[] = [];
      for (const item of batch) {
        if (item.lostBefore > 0 && this.#notice !== undefined) {
          parts.push(Buffer.from(this.#notice(item.lostBefore), 'utf8'));
        }
        parts.push(item.data);
      }
      const handle = await this.#fileFor(path, batch[0]?.at ?? this.#now());
      await handle.appendFile(Buffer.concat(parts));
      this.#failing = false;
    } catch (e) {
      // The texts (and losses they carried) are gone; count them so the next write reports them.
      for (const item of batch) this.#lost += (item.data.length > 0 ? 1 : 0) + item.lostBefore;
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
