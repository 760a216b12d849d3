/**
 * One message being received. Up to IN_MEMORY octets it stays in memory and goes to the segment log
 * whole at commit (no file of its own); past that it spills to `incoming/<id>` and is written in
 * batches. Memory per message stays under HIGH_WATER either way: `write()` returns false above it
 * and `onDrain()` reports when the caller may go on.
 */
import { open, unlink, type FileHandle } from 'node:fs/promises';

/** Gathered bytes are written once they reach this size (a typical message is one batch). */
const BATCH = 64 * 1024;
/** Above this many bytes buffered or being written, the writer asks its caller to wait. */
const HIGH_WATER = 256 * 1024;
/** A message under this size never touches a file of its own (the same bound as HIGH_WATER). */
const IN_MEMORY = HIGH_WATER;

export class SpoolWriter {
  readonly id: string;
  readonly path: string;
  #batch: Buffer[] = [];
  #batchBytes = 0;
  #writingBytes = 0;
  #length = 0;
  #file: Promise<FileHandle> | undefined;
  /** The chain of batch writes, in order. */
  #writes: Promise<void> = Promise.resolve();
  #error: Error | undefined;
  #drainWaiters: Array<() => void> = [];
  #spilled = false;

  constructor(id: string, path: string) {
    this.id = id;
    this.path = path;
  }

  /** Message octets written so far. */
  get length(): number {
    return this.#length;
  }
  get failed(): boolean {
    return this.#error !== undefined;
  }

  /** Queues bytes; false asks the caller to wait for onDrain(). After a failure bytes are dropped (finish() throws). */
  write(bytes: Buffer): boolean {
    if (this.#error !== undefined) return true;
    this.#length += bytes.length;
    this.#batch.push(bytes);
    this.#batchBytes += bytes.length;
    if (!this.#spilled && this.#batchBytes >= IN_MEMORY) this.#spilled = true;
    if (this.#spilled && this.#batchBytes >= BATCH) this.#flush();
    return this.#batchBytes + this.#writingBytes < HIGH_WATER;
  }

  /** Calls back once buffered bytes are below the high-water mark again, or the file has failed. */
  onDrain(callback: () => void): void {
    if (this.#error !== undefined || this.#batchBytes + this.#writingBytes < HIGH_WATER) callback();
    else this.#drainWaiters.push(callback);
  }

  /** The whole message, when it never spilled to a file (and has not failed). */
  inMemory(): readonly Buffer[] | undefined {
    return this.#spilled || this.#error !== undefined ? undefined : this.#batch;
  }

  /** Writes everything to the file, fsyncs and closes. Throws on any write error. */
  async finish(): Promise<void> {
    this.#spilled = true;
    this.#flush();
    await this.#writes;
    if (this.#error !== undefined) throw this.#error;
    const file = await this.#opened();
    try {
      await file.sync();
    } finally {
      await file.close();
    }
  }

  /** Writes what is buffered (no fsync) so the file can be read whole, e.g. by checks at end of data. */
  async flushed(): Promise<void> {
    this.#spilled = true;
    this.#flush();
    await this.#writes;
    if (this.#error !== undefined) throw this.#error;
  }

  /** Drops the message and its partial file, if this writer created one (never another writer's). */
  async discard(): Promise<void> {
    this.#error ??= new Error('discarded');
    this.#batch = [];
    await this.#writes.catch(() => undefined);
    const file = await this.#file?.catch(() => undefined);
    if (file === undefined) return;
    await file.close().catch(() => undefined);
    await unlink(this.path).catch(() => undefined);
  }

  #opened(): Promise<FileHandle> {
    // 'wx': never overwrite; ids are unique, so an existing file means something is wrong.
    this.#file ??= open(this.path, 'wx', 0o600);
    return this.#file;
  }

  #flush(): void {
    if (this.#batchBytes === 0 && this.#batch.length === 0) return;
    const data = this.#batch.length === 1 && this.#batch[0] !== undefined ? this.#batch[0] : Buffer.concat(this.#batch);
    this.#batch = [];
    this.#writingBytes += this.#batchBytes;
    this.#batchBytes = 0;
    this.#writes = this.#writes.then(async () => {
      try {
        if (this.#error !== undefined) return;
        const file = await this.#opened();
        for (let done = 0; done < data.length; ) done += (await file.write(data, done, data.length - done)).bytesWritten;
      } catch (e) {
        this.#error ??= e instanceof Error ? e : new Error(String(e));
      } finally {
        this.#writingBytes -= data.length;
        if (this.#error !== undefined || this.#batchBytes + this.#writingBytes < HIGH_WATER) {
          for (const w of this.#drainWaiters.splice(0)) w();
        }
      }
    });
  }
}
