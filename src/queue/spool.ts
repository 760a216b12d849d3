/**
 * The durable spool. A message is written to `incoming/<id>`, its envelope appended as a trailer,
 * the file fsync'd, renamed into `queue/<id>`, and the queue directory fsync'd; only then is it
 * acknowledged. Entries in `queue/` are therefore always complete; `incoming/` is emptied at start.
 * Renames that finish together share one directory fsync (group commit).
 *
 * File layout: message bytes, "\n", envelope JSON, "\n", trailer "BARGE-ENVELOPE <10-digit length>\n".
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { close, fsync, open, read } from 'node:fs';
import { mkdir, readdir, rename, unlink, readFile, stat, writeFile } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Readable } from 'node:stream';
import type { Transaction } from '../protocol/envelope.js';
import type { TransferMethod } from '../protocol/server-session.js';

const fsyncAsync = promisify(fsync);
const closeAsync = promisify(close);
const openAsync = promisify(open);

const TRAILER_MAGIC = 'BARGE-ENVELOPE ';
const TRAILER_LENGTH = TRAILER_MAGIC.length + 10 + 1;

export interface SpoolEnvelope {
  readonly id: string;
  readonly receivedAt: string;
  readonly listener: string;
  readonly clientIp: string;
  readonly helo: string;
  /** RFC 3848 "with" value: SMTP, ESMTP, UTF8SMTP, ... */
  readonly protocol: string;
  readonly method: TransferMethod;
  readonly chunks: number;
  /** Octets the client sent. */
  readonly size: number;
  /** Octets of message in the spool file (Barge's Received header plus what the client sent). */
  readonly messageLength: number;
  readonly transaction: Transaction;
}

/** Runs one directory fsync for every group of callers that arrive while the previous one runs. */
class DirectorySync {
  readonly #path: string;
  #running: Promise<void> | undefined;
  #next: Promise<void> | undefined;

  constructor(path: string) {
    this.#path = path;
  }

  sync(): Promise<void> {
    if (this.#next !== undefined) return this.#next;
    if (this.#running === undefined) return (this.#running = this.#run());
    const after = this.#running.catch(() => undefined);
    this.#next = after.then(() => {
      this.#next = undefined;
      return (this.#running = this.#run());
    });
    return this.#next;
  }

  async #run(): Promise<void> {
    try {
      const fd = await openAsync(this.#path, 'r');
      try {
        await fsyncAsync(fd);
      } finally {
        await closeAsync(fd);
      }
    } finally {
      this.#running = undefined;
    }
  }
}

/** One message being written. Streams with backpressure: `write()` returns false when the caller should wait for 'drain'. */
export class SpoolWriter {
  readonly id: string;
  readonly #stream: WriteStream;
  readonly #path: string;
  #length = 0;
  #fd: number | undefined;
  #error: Error | undefined;

  constructor(id: string, path: string) {
    this.id = id;
    this.#path = path;
    this.#stream = createWriteStream(path, { flags: 'wx', autoClose: false });
    this.#stream.on('open', (fd: number) => {
      this.#fd = fd;
    });
    this.#stream.on('error', (e) => {
      this.#error ??= e;
    });
  }

  get path(): string {
    return this.#path;
  }
  get failed(): boolean {
    return this.#error !== undefined;
  }

  write(bytes: Buffer): boolean {
    if (this.#error !== undefined) return true;
    this.#length += bytes.length;
    return this.#stream.write(bytes);
  }

  /** Calls back once the file accepts writes again, or once it has failed (so a paused reader never hangs). */
  onDrain(callback: () => void): void {
    if (this.#error !== undefined) return callback();
    const done = (): void => {
      this.#stream.off('drain', done);
      this.#stream.off('error', done);
      callback();
    };
    this.#stream.once('drain', done);
    this.#stream.once('error', done);
  }

  /** Writes the trailer, flushes and fsyncs; throws on any write error (the caller answers 452 4.3.1). */
  async finish(envelope: Omit<SpoolEnvelope, 'messageLength'>): Promise<SpoolEnvelope> {
    const full: SpoolEnvelope = { ...envelope, messageLength: this.#length };
    const json = Buffer.from(JSON.stringify(full));
    const trailer = `${TRAILER_MAGIC}${String(json.length).padStart(10, '0')}\n`;
    await new Promise<void>((resolve, reject) => {
      if (this.#error !== undefined) return reject(this.#error);
      this.#stream.once('error', reject);
      this.#stream.end(Buffer.concat([Buffer.from('\n'), json, Buffer.from(`\n${trailer}`)]), () => resolve());
    });
    const fd = this.#fd;
    if (this.#error !== undefined) throw this.#error;
    if (typeof fd !== 'number') throw new Error('spool file was not opened');
    try {
      await fsyncAsync(fd);
    } finally {
      await closeAsync(fd);
    }
    return full;
  }

  /** Drops the partial file. */
  async discard(): Promise<void> {
    // destroy() closes the descriptor even with autoClose off (once it is open); closing it here as
    // well would close whatever file reused the number meanwhile.
    this.#stream.destroy();
    if (!this.#stream.closed) await new Promise<void>((resolve) => this.#stream.once('close', () => resolve()));
    this.#fd = undefined;
    await unlink(this.#path).catch(() => undefined);
  }
}

export class Spool {
  readonly incomingDir: string;
  readonly queueDir: string;
  readonly stateDir: string;
  readonly #queueSync: DirectorySync;

  private constructor(root: string) {
    this.incomingDir = join(root, 'incoming');
    this.queueDir = join(root, 'queue');
    this.stateDir = join(root, 'state');
    this.#queueSync = new DirectorySync(this.queueDir);
  }

  /**
   * Opens (creating) the spool under `root`. The server removes partial files a crash may have left
   * in incoming/; readers such as `barge queue` pass `cleanIncoming: false` so a running server's
   * messages in flight are left alone.
   */
  static async open(root: string, options: { cleanIncoming?: boolean } = {}): Promise<Spool> {
    const spool = new Spool(root);
    for (const dir of [spool.incomingDir, spool.queueDir, spool.stateDir]) await mkdir(dir, { recursive: true });
    if (options.cleanIncoming ?? true) {
      for (const name of await readdir(spool.incomingDir)) await unlink(join(spool.incomingDir, name)).catch(() => undefined);
    }
    return spool;
  }

  begin(id: string): SpoolWriter {
    return new SpoolWriter(id, join(this.incomingDir, id));
  }

  /** Makes the message durable and visible in the queue. Resolves only once the rename is on disk. */
  async commit(writer: SpoolWriter, envelope: Omit<SpoolEnvelope, 'messageLength'>): Promise<SpoolEnvelope> {
    try {
      const full = await writer.finish(envelope);
      await rename(writer.path, join(this.queueDir, writer.id));
      await this.#queueSync.sync();
      return full;
    } catch (e) {
      await unlink(writer.path).catch(() => undefined);
      throw e;
    }
  }

  /** Queue ids, oldest first (ids sort by time). */
  async list(): Promise<string[]> {
    return (await readdir(this.queueDir)).filter((n) => !n.startsWith('.')).sort();
  }

  async readEnvelope(id: string): Promise<SpoolEnvelope> {
    const path = join(this.queueDir, id);
    const size = (await stat(path)).size;
    const fd = await openAsync(path, 'r');
    try {
      const tail = Buffer.alloc(Math.min(TRAILER_LENGTH, size));
      await readAt(fd, tail, size - tail.length);
      const text = tail.toString('latin1');
      if (!text.startsWith(TRAILER_MAGIC)) throw new Error(`queue entry ${id} has no envelope trailer`);
      const length = Number(text.slice(TRAILER_MAGIC.length, TRAILER_MAGIC.length + 10));
      const json = Buffer.alloc(length);
      await readAt(fd, json, size - TRAILER_LENGTH - 1 - length);
      return JSON.parse(json.toString('utf8')) as SpoolEnvelope;
    } finally {
      await closeAsync(fd);
    }
  }

  /** The message bytes of an entry (without the trailer). */
  messageStream(id: string, envelope: SpoolEnvelope): Readable {
    if (envelope.messageLength === 0) return createReadStream(join(this.queueDir, id), { start: 1, end: 0 });
    return createReadStream(join(this.queueDir, id), { start: 0, end: envelope.messageLength - 1, highWaterMark: 256 * 1024 });
  }

  async readState<T>(id: string): Promise<T | undefined> {
    try {
      return JSON.parse(await readFile(join(this.stateDir, `${id}.json`), 'utf8')) as T;
    } catch {
      return undefined;
    }
  }

  /** Replaces an entry's delivery state atomically (write, fsync, rename). */
  async writeState(id: string, state: unknown): Promise<void> {
    const path = join(this.stateDir, `${id}.json`);
    const tmp = `${path}.tmp`;
    await writeFile(tmp, JSON.stringify(state), { flush: true });
    await rename(tmp, path);
  }

  /** Removes a finished entry: the message first, so a crash leaves at worst an orphan state file. */
  async remove(id: string): Promise<void> {
    await unlink(join(this.queueDir, id)).catch(() => undefined);
    await unlink(join(this.stateDir, `${id}.json`)).catch(() => undefined);
  }
}

function readAt(fd: number, buf: Buffer, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    read(fd, buf, 0, buf.length, position, (err, n) => (err ? reject(err) : n === buf.length ? resolve() : reject(new Error('short read'))));
  });
}
