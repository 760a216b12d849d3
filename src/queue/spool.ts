/**
 * The durable spool. A message is written to `incoming/<id>`, its envelope appended as a trailer,
 * the file fsync'd, renamed into `queue/<id>`, and the queue directory fsync'd; only then is it
 * acknowledged. Entries in `queue/` are therefore always complete; `incoming/` is emptied at start.
 * Renames that finish together share one directory fsync (group commit).
 *
 * Private like Postfix's queue: directories 0700, files 0600 (messages are other people's mail).
 *
 * File layout: message bytes, "\n", envelope JSON, "\n", trailer "BARGE-ENVELOPE <10-digit length>\n".
 */
import { createReadStream } from 'node:fs';
import { chmod, mkdir, open, readdir, rename, unlink, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDirectory, writeFileDurably } from './durable-write.js';
import { Readable } from 'node:stream';
import type { Transaction } from '../protocol/envelope.js';
import type { TransferMethod } from '../protocol/server-session.js';
import { SpoolWriter } from './spool-writer.js';

export { SpoolWriter };

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
  /** "domain/selector" of each DKIM signature Barge added when it queued the message for relay. */
  readonly dkim?: readonly string[];
  /** DMARC p=quarantine failed under an enforcing listener: local recipients get it in their Junk folder. */
  readonly junk?: boolean;
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
      await syncDirectory(this.#path);
    } finally {
      this.#running = undefined;
    }
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
    for (const dir of [spool.incomingDir, spool.queueDir, spool.stateDir]) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
    }
    // Also tightens a spool made by an older version (a reader running as another user may not).
    for (const dir of [root, spool.incomingDir, spool.queueDir, spool.stateDir]) await chmod(dir, 0o700).catch(() => undefined);
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
      const full: SpoolEnvelope = { ...envelope, messageLength: writer.length };
      const json = Buffer.from(JSON.stringify(full));
      await writer.finish(trailer(json));
      await chmod(writer.path, 0o600);
      await rename(writer.path, join(this.queueDir, writer.id));
      await this.#queueSync.sync();
      return full;
    } catch (e) {
      // Removes the file only if this writer created it: an id clash must not delete another message.
      await writer.discard();
      throw e;
    }
  }

  /**
   * Replaces an entry's content and envelope (signing adds a header) the way commit makes one:
   * written aside, fsync'd, renamed over the entry, directory fsync'd. A crash leaves the old entry.
   */
  async rewrite(id: string, content: AsyncIterable<Buffer>, envelope: Omit<SpoolEnvelope, 'messageLength'>): Promise<SpoolEnvelope> {
    const writer = new SpoolWriter(id, join(this.incomingDir, `${id}.rewrite`));
    try {
      for await (const bytes of content) {
        if (!writer.write(bytes)) await new Promise<void>((resolve) => writer.onDrain(resolve));
      }
    } catch (e) {
      await writer.discard();
      throw e;
    }
    return this.commit(writer, envelope);
  }

  /** Queue ids, oldest first (ids sort by time). */
  async list(): Promise<string[]> {
    return (await readdir(this.queueDir)).filter((n) => !n.startsWith('.')).sort();
  }

  async readEnvelope(id: string): Promise<SpoolEnvelope> {
    const path = join(this.queueDir, id);
    const file = await open(path, 'r');
    try {
      const size = (await file.stat()).size;
      const tail = Buffer.alloc(Math.min(TRAILER_LENGTH, size));
      await readAt(file, tail, size - tail.length);
      const text = tail.toString('latin1');
      if (!text.startsWith(TRAILER_MAGIC)) throw new Error(`queue entry ${id} has no envelope trailer`);
      const length = Number(text.slice(TRAILER_MAGIC.length, TRAILER_MAGIC.length + 10));
      const json = Buffer.alloc(length);
      await readAt(file, json, size - TRAILER_LENGTH - 1 - length);
      return JSON.parse(json.toString('utf8')) as SpoolEnvelope;
    } finally {
      await file.close();
    }
  }

  /** The message bytes of an entry (without the trailer). */
  messageStream(id: string, envelope: SpoolEnvelope): Readable {
    if (envelope.messageLength === 0) return Readable.from([]);
    return createReadStream(join(this.queueDir, id), { start: 0, end: envelope.messageLength - 1, highWaterMark: 256 * 1024 });
  }

  async readState<T>(id: string): Promise<T | undefined> {
    try {
      return JSON.parse(await readFile(join(this.stateDir, `${id}.json`), 'utf8')) as T;
    } catch {
      return undefined;
    }
  }

  /** Replaces an entry's delivery state atomically and durably: a lost update would deliver again. */
  async writeState(id: string, state: unknown): Promise<void> {
    await writeFileDurably(join(this.stateDir, `${id}.json`), JSON.stringify(state));
  }

  /** Removes a finished entry: the message first, so a crash leaves at worst an orphan state file. */
  async remove(id: string): Promise<void> {
    await unlink(join(this.queueDir, id)).catch(() => undefined);
    await unlink(join(this.stateDir, `${id}.json`)).catch(() => undefined);
  }
}

async function readAt(file: FileHandle, buf: Buffer, position: number): Promise<void> {
  const { bytesRead } = await file.read(buf, 0, buf.length, position);
  if (bytesRead !== buf.length) throw new Error('short read');
}

/** "\n" + envelope JSON + "\n" + "BARGE-ENVELOPE <10-digit JSON length>\n". */
function trailer(json: Buffer): Buffer {
  return Buffer.concat([Buffer.from('\n'), json, Buffer.from(`\n${TRAILER_MAGIC}${String(json.length).padStart(10, '0')}\n`)]);
}
