/**
 * One message being received. Up to IN_MEMORY octets it stays in memory and goes to the segment log
 * whole at commit (no file of its own); past that it spills to `incoming/<id>`. Memory per message
 * stays under HIGH_WATER either way: `write()` returns false above it and `onDrain()` reports when
 * the caller may go on.
 *
 * The caller's buffers are kept as they are (no copies) and written with one writev of everything
 * gathered while the previous write ran, so a fast sender costs few system calls and thread-pool
 * hand-offs. While a large message streams in, its file is fdatasync'd in the background every
 * SYNC_EVERY octets, so the fsync that must come before the 250 (finish) only covers the tail.
 */
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { writeAll } from '../fs/durable-write.js';

/** An idle writer starts a write once this much is gathered (a few socket reads). */
const BATCH = 256 * 1024;
/**
 * Above this many bytes gathered or being written, the writer asks its caller to wait: the bound on
 * a message's memory (plus the one socket read that crossed it).
 */
const HIGH_WATER = 512 * 1024;
/** A message under this size never touches a file of its own. */
const IN_MEMORY = 256 * 1024;
/** Written octets between background fdatasyncs of a spilled message. */
const SYNC_EVERY = 8 * 1024 * 1024;
/** The buffers one writev takes at most (POSIX IOV_MAX is at least 1024 on Linux). */
const MAX_VIEWS = 1024;

export class SpoolWriter {
  readonly id: string;
  readonly path: string;
  #batch: Buffer[] = [];
  #batchBytes = 0;
  #writingBytes = 0;
  #length = 0;
  #file: Promise<FileHandle> | undefined;
  /** The chain of batch writes, in order; at most one runs at a time. */
  #writes: Promise<void> = Promise.resolve();
  #writing = false;
  /** The background fdatasync in flight, if any, and the octets written since the last one began. */
  #syncing: Promise<void> | undefined;
  #unsynced = 0;
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

  /** Queues bytes (kept, not copied); false asks the caller to wait for onDrain(). After a failure bytes are dropped (finish() throws). */
  write(bytes: Buffer): boolean {
    if (this.#error !== undefined) return true;
    this.#length += bytes.length;
    this.#batch.push(bytes);
    this.#batchBytes += bytes.length;
    if (!this.#spilled && this.#batchBytes >= IN_MEMORY) this.#spilled = true;
    if (this.#spilled && !this.#writing && this.#batchBytes >= BATCH) this.#flush();
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
    await this.flushed();
    const file = await this.#opened();
    try {
      await this.#syncing;
      if (this.#error !== undefined) throw this.#error;
      await file.sync();
    } finally {
      await file.close();
    }
  }

  /** Writes what is buffered (no fsync) so the file can be read whole, e.g. by checks at end of data. */
  async flushed(): Promise<void> {
    this.#spilled = true;
    while (this.#writing || this.#batch.length > 0) {
      if (!this.#writing) this.#flush();
      await this.#writes;
    }
    if (this.#error !== undefined) throw this.#error;
  }

  /** Drops the message and its partial file, if this writer created one (never another writer's). */
  async discard(): Promise<void> {
    this.#error ??= new Error('discarded');
    this.#batch = [];
    this.#batchBytes = 0;
    // Discarding: a failed write or open only means there is less to remove.
    await this.#writes.catch(() => undefined);
    await this.#syncing;
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

  /** Starts one writev of what is gathered; when it ends, the next starts if enough has gathered meanwhile. */
  #flush(): void {
    const views = this.#batch.length > MAX_VIEWS ? this.#batch.splice(0, MAX_VIEWS) : this.#batch;
    if (views === this.#batch) this.#batch = [];
    const bytes = views.reduce((n, v) => n + v.length, 0);
    this.#batchBytes -= bytes;
    this.#writingBytes += bytes;
    this.#writing = true;
    this.#writes = this.#writeAll(views).then(() => {
      this.#writing = false;
      this.#writingBytes -= bytes;
      if (this.#error === undefined && this.#batchBytes >= BATCH) this.#flush();
      if (this.#error !== undefined || this.#batchBytes + this.#writingBytes < HIGH_WATER) {
        for (const w of this.#drainWaiters.splice(0)) w();
      }
    });
  }

  async #writeAll(views: Buffer[]): Promise<void> {
    try {
      if (this.#error !== undefined) return;
      const file = await this.#opened();
      await writeAll(file, views);
      this.#unsynced += views.reduce((n, v) => n + v.length, 0);
      if (this.#unsynced >= SYNC_EVERY && this.#syncing === undefined) this.#syncInBackground(file);
    } catch (e) {
      this.#fail(e);
    }
  }

  /** Starts flushing written octets to the disk while more arrive; finish() waits for it. */
  #syncInBackground(file: FileHandle): void {
    this.#unsynced = 0;
    this.#syncing = file.datasync().then(
      () => void (this.#syncing = undefined),
      (e: unknown) => {
        this.#syncing = undefined;
        this.#fail(e);
      },
    );
  }

  #fail(e: unknown): void {
    this.#error ??= e instanceof Error ? e : new Error(String(e));
  }
}
