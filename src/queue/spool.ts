/**
 * The durable spool. A message up to SpoolWriter's in-memory limit is appended with its envelope to
 * the segment log (store/segment-log.ts), where one synchronised write acknowledges a whole group;
 * a larger one streams to `incoming/<id>`, is fsync'd, renamed into `queue/<id>.msg` and the
 * directory fsync'd, and then its envelope goes to the log. Either way the log record is what makes
 * the message exist, and `commit` resolves (so the client gets 250) only once it is durable. Delivery
 * state is a log record too (the latest wins); a finished entry gets a DONE record.
 *
 * Private like Postfix's queue: directories 0700, files 0600 (messages are other people's mail).
 * A spool from an earlier version (`queue/<id>` files with an envelope trailer, `state/<id>.json`)
 * is taken into the log at start.
 */
import { createReadStream } from 'node:fs';
import { chmod, mkdir, readdir, rename, stat, unlink, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DirectorySync } from '../fs/durable-write.js';
import { Readable } from 'node:stream';
import type { Transaction } from '../protocol/envelope.js';
import type { TransferMethod } from '../protocol/server-session.js';
import { SpoolWriter } from './spool-writer.js';
import { lock, readTrailer } from './spool-files.js';
import { SegmentLog, type Recovery } from './store/segment-log.js';

export { SpoolWriter };

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

export class Spool {
  readonly incomingDir: string;
  readonly queueDir: string;
  readonly logDir: string;
  /** What opening found: segments replayed, live entries, torn tails, time taken. */
  readonly recovery: Recovery;
  readonly #root: string;
  readonly #log: SegmentLog;
  readonly #queueSync: DirectorySync;
  readonly #readOnly: boolean;

  private constructor(root: string, log: SegmentLog, recovery: Recovery, readOnly: boolean) {
    this.#root = root;
    this.#readOnly = readOnly;
    this.incomingDir = join(root, 'incoming');
    this.queueDir = join(root, 'queue');
    this.logDir = join(root, 'log');
    this.#log = log;
    this.recovery = recovery;
    this.#queueSync = new DirectorySync(this.queueDir);
  }

  /**
   * Opens (creating) the spool under `root`. The server (the only writer) removes partial files a
   * crash may have left and takes in an earlier version's entries; readers such as `barge queue`
   * pass `readOnly` and change nothing, so a running server is left alone.
   */
  /** `inlineWrites`: whether the segment log may write a lone small record inline now (the owner's tuning); default yes. */
  static async open(root: string, options: { readOnly?: boolean; inlineWrites?: () => boolean } = {}): Promise<Spool> {
    const readOnly = options.readOnly ?? false;
    for (const dir of ['incoming', 'queue', 'log']) await mkdir(join(root, dir), { recursive: true, mode: 0o700 });
    // Also tightens a spool made by an older version (a reader running as another user may not).
    for (const dir of ['', 'incoming', 'queue', 'log']) await chmod(join(root, dir), 0o700).catch(() => undefined);
    if (!readOnly) await lock(root);
    const { log, recovery } = await SegmentLog.open(join(root, 'log'), { ...options, readOnly });
    const spool = new Spool(root, log, recovery, readOnly);
    if (!readOnly) await spool.#tidy();
    return spool;
  }

  /** Empties incoming/, drops large files whose log record never became durable, takes in old entries. */
  async #tidy(): Promise<void> {
    for (const name of await readdir(this.incomingDir)) await unlink(join(this.incomingDir, name)).catch(() => undefined);
    for (const name of await readdir(this.queueDir)) {
      if (name.endsWith('.msg.new')) await this.#finishReplace(name.slice(0, -8));
    }
    for (const name of await readdir(this.queueDir)) {
      if (name.endsWith('.msg')) {
        if (this.#external(name.slice(0, -4)) !== true) await unlink(join(this.queueDir, name));
      } else if (/^[A-Z0-9]+$/.test(name)) await this.#adopt(name).catch(() => undefined); // unreadable: left as it is
    }
  }

  /**
   * Takes in an entry of the file-per-message spool: the file becomes a large-message file. The log
   * records come first: a crash before the rename leaves the old file, taken in again at the next start.
   */
  async #adopt(id: string): Promise<void> {
    const envelope = (await readTrailer(join(this.queueDir, id))) as SpoolEnvelope;
    const statePath = join(this.#root, 'state', `${id}.json`);
    const state = await readFile(statePath, 'utf8').catch(() => undefined);
    await this.#durable(this.#log.append(id, JSON.stringify(envelope), []));
    if (state !== undefined) await this.#durable(this.#log.setState(id, state));
    await rename(join(this.queueDir, id), join(this.queueDir, `${id}.msg`));
    await this.#queueSync.sync();
    await unlink(statePath).catch(() => undefined);
  }

  /** A replaced large file whose new record became durable takes the old one's place; else it goes. */
  async #finishReplace(id: string): Promise<void> {
    const staged = join(this.queueDir, `${id}.msg.new`);
    const json = this.#log.envelope(id);
    const length = json === undefined ? -1 : (JSON.parse(json) as SpoolEnvelope).messageLength;
    if (this.#external(id) === true && (await stat(staged)).size === length) await rename(staged, join(this.queueDir, `${id}.msg`));
    else await unlink(staged);
    await this.#queueSync.sync();
  }

  /** True when a live entry's message is in its own file, undefined when there is no such entry. */
  #external(id: string): boolean | undefined {
    const json = this.#log.envelope(id);
    if (json === undefined) return undefined;
    // A large message has no octets in the log: its record holds the envelope alone.
    return (JSON.parse(json) as SpoolEnvelope).messageLength !== this.#log.messageLength(id);
  }

  async #durable(outcome: Promise<{ kind: 'durable' } | { kind: 'failed'; reason: string }>): Promise<void> {
    const o = await outcome;
    if (o.kind === 'failed') throw spoolWriteFailed(o.reason);
  }

  begin(id: string): SpoolWriter {
    // Plain concatenation: both parts are already normal (an id is [A-Z0-9]), and this runs per message.
    return new SpoolWriter(id, `${this.incomingDir}/${id}`);
  }

  /** Makes the message durable and visible in the queue. Resolves only once its log record is on disk. */
  commit(writer: SpoolWriter, envelope: Omit<SpoolEnvelope, 'messageLength'>): Promise<SpoolEnvelope> {
    const full: SpoolEnvelope = { ...envelope, messageLength: writer.length };
    const json = JSON.stringify(full);
    const held = writer.inMemory();
    if (held === undefined) return this.#commitFile(writer, full, json);
    // The common case, a message held in memory, is one promise from the log (no async steps around it).
    return this.#log.append(writer.id, json, held).then((outcome) => {
      if (outcome.kind === 'failed') throw spoolWriteFailed(outcome.reason);
      if (!writer.path.endsWith('.rewrite')) return full;
      return unlink(join(this.queueDir, `${writer.id}.msg`)).then(
        () => full,
        () => full,
      );
    });
  }

  /** A message that spilled to a file of its own: the file is renamed into the queue, then its record is logged. */
  async #commitFile(writer: SpoolWriter, full: SpoolEnvelope, json: string): Promise<SpoolEnvelope> {
    const file = join(this.queueDir, `${writer.id}.msg`);
    // A live entry's file is replaced only after the new record is durable (start-up finishes the
    // rename if a crash came between): the old record must never meet the new octets.
    const staged = this.has(writer.id) ? `${file}.new` : file;
    try {
      await writer.finish();
      await rename(writer.path, staged);
      await this.#queueSync.sync();
    } catch (e) {
      // Removes the file only if this writer created it: an id clash must not delete another message.
      await writer.discard();
      throw e;
    }
    const outcome = await this.#log.append(writer.id, json, []);
    if (outcome.kind === 'failed') {
      if (staged !== file || !this.has(writer.id)) await unlink(staged).catch(() => undefined);
      await this.#durable(Promise.resolve(outcome));
    }
    if (staged !== file) {
      await rename(staged, file);
      await this.#queueSync.sync();
    }
    return full;
  }

  /**
   * Replaces an entry's content and envelope (signing adds a header) the way commit makes one; the
   * new log record replaces the old one and keeps its state. A crash before it is durable leaves the old entry.
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
    return this.#log.ids().sort();
  }

  has(id: string): boolean {
    return this.#log.envelope(id) !== undefined;
  }

  /** Live entries. */
  get size(): number {
    return this.#log.size;
  }

  async readEnvelope(id: string): Promise<SpoolEnvelope> {
    const json = this.#log.envelope(id);
    if (json === undefined) throw Object.assign(new Error(`no queue entry ${id}`), { code: 'ENOENT' });
    return JSON.parse(json) as SpoolEnvelope;
  }

  /** The message bytes of an entry. */
  messageStream(id: string, envelope: SpoolEnvelope): Readable {
    if (envelope.messageLength === 0) return Readable.from([]);
    // A large message has no octets in the log (see #external).
    if (this.#log.messageLength(id) === envelope.messageLength) return this.#log.messageStream(id) ?? Readable.from([]);
    return createReadStream(join(this.queueDir, `${id}.msg`), { start: 0, end: envelope.messageLength - 1, highWaterMark: 256 * 1024 });
  }

  /** The message bytes of a small entry in one buffer (one read, no stream); undefined: use messageStream(). */
  messageBytes(id: string, envelope: SpoolEnvelope): Promise<Buffer> | undefined {
    if (envelope.messageLength === 0) return Promise.resolve(Buffer.alloc(0));
    return this.#log.messageLength(id) === envelope.messageLength ? this.#log.messageBytes(id) : undefined;
  }

  async readState<T>(id: string): Promise<T | undefined> {
    const json = this.#log.state(id);
    return json === undefined ? undefined : (JSON.parse(json) as T);
  }

  /** Replaces an entry's delivery state durably (a lost update would deliver again); the latest record wins. */
  async writeState(id: string, state: unknown): Promise<void> {
    await this.#durable(this.#log.setState(id, JSON.stringify(state)));
  }

  /** Retires a finished entry: the DONE record first, so a crash leaves at worst an orphan file (removed at start). */
  async remove(id: string): Promise<void> {
    const external = this.#external(id);
    if (external === undefined) return;
    await this.#durable(this.#log.done(id));
    if (external) await unlink(join(this.queueDir, `${id}.msg`)).catch(() => undefined);
  }

  /** Waits for log writes in flight and releases the spool to another process. */
  async close(): Promise<void> {
    await this.#log.close();
    if (!this.#readOnly) await unlink(join(this.#root, 'lock')).catch(() => undefined);
  }
}

function spoolWriteFailed(reason: string): Error {
  return new Error(`spool write failed: ${reason}`);
}
