/**
 * A write-ahead log of queue entries in shared, preallocated segment files. Appends wait in memory
 * while a flush runs; then one gathered write makes the whole group durable (group commit), and only
 * then does each append resolve. The segment is open with O_DSYNC, so that write returns once its
 * data is on stable storage, in one system call (the file never changes size). A flush starts after
 * the event loop's current round of socket reads, so it gathers every record they produced; a lone
 * small record on an idle log may be written inline (the owner's `inlineWrites`). A STATE record
 * replaces a message's delivery state (the latest wins); a DONE record retires it. The oldest segment
 * holding no live message and no current state is renamed and reused.
 *
 * Durability: a record counts only if its header names the segment's generation and its CRC-32
 * holds, and recovery stops at the first record that does not, so a write cut short by a crash is
 * never taken for a message, and stale records in a reused file are never taken for new ones. A
 * reused file is renamed and its directory fsync'd before anything is written to it; after recovery
 * appends go to a fresh segment, so nothing is ever written after a torn record.
 */
import { constants } from 'node:fs';
import { mkdir, open, rename, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { lazyMessageStream, SegmentReaders, type SegmentReadersOptions } from './segment-readers.js';
import { generationsIn, preallocate, replaySegments, segmentName, writeAt } from './segment-files.js';
import { syncDirectory } from '../../fs/durable-write.js';
import { compactionMoves } from './compaction.js';
import type { AppendOutcome, Pending } from './pending.js';
import { LiveIndex } from './live-index.js';
import { encodeDone, encodeMessage, encodeState, HEADER, messageSize, stateSize } from './record.js';

/** Only ever read (written out after a group): one shared buffer of zeros. */
const ZERO_HEADER = Buffer.alloc(HEADER);

export type { AppendOutcome } from './pending.js';

export interface Recovery {
  readonly segments: number;
  readonly messages: number;
  /** Segments whose valid records ended in a torn write (a crash mid-flush). */
  readonly tornSegments: number;
  readonly ms: number;
}

/** messageBytes() serves messages up to this size in one buffer (the spool keeps larger ones in files of their own). */
const ONE_READ = 256 * 1024;
/**
 * A group of one record up to this size, on a log that was idle, is written inline when the owner's
 * `inlineWrites` allows it: the O_DSYNC write waits for the disk either way, and through the thread
 * pool it costs two more thread wake-ups and an event-loop round. When other work is waiting (the
 * owner knows: other sessions), the write goes to the thread pool so the loop serves it meanwhile.
 */
const INLINE_WRITE = 64 * 1024;

export class SegmentLog {
  readonly #dir: string;
  readonly #segmentSize: number;
  readonly #readers: SegmentReaders;
  readonly #index: LiveIndex;
  #generation = 0;
  #file: FileHandle | undefined;
  #tail = 0;
  #queue: Pending[] = [];
  #flushing: Promise<void> = Promise.resolve();
  #running = false;
  readonly #readOnly: boolean;
  readonly #inlineWrites: () => boolean;
  /** Flushes (one gathered, synchronised write each) since open: the group-commit count. */
  syncs = 0;

  private constructor(dir: string, segmentSize: number, readOnly: boolean, readers: SegmentReadersOptions, inlineWrites: () => boolean) {
    this.#dir = dir;
    this.#inlineWrites = inlineWrites;
    this.#segmentSize = segmentSize;
    this.#readOnly = readOnly;
    this.#readers = new SegmentReaders((g) => join(dir, segmentName(g)), readers);
    this.#index = new LiveIndex(
      () => this.#generation,
      (g) => this.#readers.close(g),
    );
  }

  /**
   * Opens (creating) the log in `dir`, replaying every segment. A read-only log (`barge queue` beside
   * a running server) never writes; a segment the writer renames meanwhile is skipped. `beforeRead`
   * is a test seam (see SegmentReadersOptions).
   */
  static async open(
    dir: string,
    options: { segmentSize?: number; readOnly?: boolean; inlineWrites?: () => boolean } & SegmentReadersOptions = {},
  ): Promise<{ log: SegmentLog; recovery: Recovery }> {
    const started = performance.now();
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const log = new SegmentLog(
      dir,
      options.segmentSize ?? 8 * 1024 * 1024,
      options.readOnly ?? false,
      { beforeRead: options.beforeRead },
      options.inlineWrites ?? (() => true),
    );
    const generations = await generationsIn(dir);
    const torn = await replaySegments(dir, generations, log.#index, log.#readOnly);
    // Every empty segment from the oldest on, the last one too: appends go to a fresh segment.
    log.#index.retireOldest(undefined);
    log.#generation = generations.at(-1) ?? 0;
    const recovery = { segments: generations.length, messages: log.#index.size, tornSegments: torn, ms: performance.now() - started };
    return { log, recovery };
  }

  get size(): number {
    return this.#index.size;
  }

  /** Live message ids in log order (oldest first). */
  ids(): string[] {
    return this.#index.ids();
  }

  envelope(id: string): string | undefined {
    return this.#index.get(id)?.envelope;
  }

  /** Octets of message stored in the log for a live entry. */
  messageLength(id: string): number | undefined {
    return this.#index.get(id)?.length;
  }

  /** The latest state recorded for a live entry. */
  state(id: string): string | undefined {
    return this.#index.get(id)?.state?.json;
  }

  /**
   * The message octets of a live entry, as a stream that reads them in one positional read through a
   * handle kept per segment (no open and close per delivery). The entry is located when the stream is
   * first read, not now: compaction may move it meanwhile, and its old segment may then be reused.
   * Records in the log are small (the spool keeps messages of 256 KiB and more in files of their own).
   */
  messageStream(id: string): Readable | undefined {
    return this.#index.get(id) === undefined ? undefined : lazyMessageStream(id, this.#index, this.#readers);
  }

  /** The message octets of a live entry in one buffer, when they take one read; else undefined (stream them). */
  messageBytes(id: string): Promise<Buffer> | undefined {
    const at = this.#index.get(id);
    if (at === undefined || at.length > ONE_READ) return undefined;
    return this.#readers.read(at.generation, at.offset, at.length);
  }

  /** Makes a message durable; resolves only after the synchronised write that covers it. */
  append(id: string, envelope: string, body: readonly Buffer[]): Promise<AppendOutcome> {
    if (this.#readOnly) return Promise.resolve({ kind: 'failed', reason: 'the log is open read-only' });
    const size = messageSize(id, envelope, body);
    if (size > this.#segmentSize) return Promise.resolve({ kind: 'failed', reason: `record of ${size} octets exceeds the segment size` });
    const bodyOffset = size - body.reduce((n, b) => n + b.length, 0);
    const placed = (g: number, offset: number): void =>
      this.#index.add(id, { generation: g, offset: offset + bodyOffset, length: size - bodyOffset, envelope });
    const added = this.#enqueue(size, (g) => encodeMessage(g, id, envelope, body), placed);
    // A rewritten message's state is written again after it: replay reads a STATE record only for a
    // message it has already seen, and the earlier one lies before the new message record.
    const state = this.#index.get(id)?.state?.json;
    if (state === undefined) return added;
    const restated = this.setState(id, state);
    return Promise.all([added, restated]).then(([a, b]) => (a.kind === 'failed' ? a : b));
  }

  /** Retires a message for good (delivered or bounced); durable when it resolves. */
  done(id: string): Promise<AppendOutcome> {
    if (this.#readOnly) return Promise.resolve({ kind: 'failed', reason: 'the log is open read-only' });
    return this.#enqueue(
      HEADER + Buffer.byteLength(id, 'latin1'),
      (g) => encodeDone(g, id),
      () => this.#index.drop(id),
    );
  }

  /** Replaces a live entry's state; durable when it resolves. An entry retired meanwhile keeps no state. */
  setState(id: string, json: string): Promise<AppendOutcome> {
    if (this.#readOnly) return Promise.resolve({ kind: 'failed', reason: 'the log is open read-only' });
    const size = stateSize(id, json);
    if (size > this.#segmentSize) return Promise.resolve({ kind: 'failed', reason: `state of ${size} octets exceeds the segment size` });
    return this.#enqueue(
      size,
      (g) => encodeState(g, id, json),
      (g) => this.#index.setState(id, g, json),
    );
  }

  async close(): Promise<void> {
    while (this.#running) await this.#flushing;
    this.#readers.closeAll();
    await this.#file?.close();
    this.#file = undefined;
  }

  #enqueue(size: number, build: Pending['build'], apply: Pending['apply']): Promise<AppendOutcome> {
    return new Promise((resolve) => {
      this.#queue.push({ build, size, apply, resolve });
      // #running is cleared in the same tick the flusher sees an empty queue, so no append is stranded.
      if (this.#running) return;
      this.#running = true;
      // setImmediate runs after the loop's poll phase: every session read in this round has appended.
      this.#flushing = new Promise<void>((start) => setImmediate(start)).then(() => this.#flushAll());
    });
  }

  async #flushAll(): Promise<void> {
    for (let idle = true; ; idle = false) {
      if (this.#queue.length === 0) {
        this.#running = false;
        return;
      }
      const group: Pending[] = [];
      let bytes = 0;
      if (this.#file === undefined || this.#tail + (this.#queue[0]?.size ?? 0) > this.#segmentSize) {
        const opened = await this.#nextSegment().then(
          () => undefined,
          (e: unknown) => String(e),
        );
        if (opened !== undefined) {
          for (const p of this.#queue.splice(0)) p.resolve({ kind: 'failed', reason: opened });
          continue;
        }
        // The last free segment is in use: empty the oldest now, so the next switch need not grow the log.
        if (this.#index.freeSegments === 0) await this.#compact();
      }
      while (this.#queue[0] !== undefined && this.#tail + bytes + this.#queue[0].size <= this.#segmentSize) {
        const p = this.#queue.shift();
        if (p === undefined) break;
        group.push(p);
        bytes += p.size;
      }
      await this.#write(group, bytes, idle && group.length === 1);
    }
  }

  async #write(group: Pending[], bytes: number, lone: boolean): Promise<void> {
    const file = this.#file;
    if (file === undefined) return;
    const g = this.#generation;
    const start = this.#tail;
    const buffers = group.flatMap((p) => p.build(g));
    // A zero header after the group marks the clean end of a reused file; the next group overwrites it.
    const end = Math.min(HEADER, this.#segmentSize - start - bytes);
    if (end > 0) buffers.push(ZERO_HEADER.subarray(0, end));
    const total = bytes + Math.max(end, 0);
    try {
      // O_DSYNC: each write is durable when it returns (POSIX synchronized I/O data integrity).
      await writeAt(file.fd, buffers, start, total, lone && total <= INLINE_WRITE && this.#inlineWrites());
      this.syncs++;
    } catch (e) {
      // What reached the disk may be torn: seal this segment, so the next group starts a new one.
      this.#tail = this.#segmentSize;
      for (const p of group) p.resolve({ kind: 'failed', reason: e instanceof Error ? e.message : String(e) });
      return;
    }
    this.#tail = start + bytes;
    let offset = start;
    for (const p of group) {
      p.apply(g, offset);
      offset += p.size;
      p.resolve({ kind: 'durable' });
    }
  }

  /**
   * Writes the oldest segment's live records again, first in the new segment (see compaction.ts).
   * Nothing else is written meanwhile (this runs in the flusher), so what is read is current; records
   * queued earlier land after the moved ones and win, as they would have.
   */
  async #compact(): Promise<void> {
    const moves = await compactionMoves(this.#index, this.#readers, this.#generation, this.#segmentSize);
    if (moves !== undefined) this.#queue.unshift(...moves);
  }

  /** Moves to a new generation: a retired segment renamed, or a new zero-filled one. */
  async #nextSegment(): Promise<void> {
    const previous = this.#file;
    this.#file = undefined;
    await previous?.close();
    const g = this.#generation + 1;
    const target = join(this.#dir, segmentName(g));
    const reuse = this.#index.takeFree();
    if (reuse !== undefined) await this.#readers.idle(reuse);
    if (reuse !== undefined) await rename(join(this.#dir, segmentName(reuse)), target);
    else await preallocate(target, this.#segmentSize);
    await syncDirectory(this.#dir);
    this.#file = await open(target, constants.O_RDWR | constants.O_DSYNC);
    this.#generation = g;
    this.#index.opened(g);
    this.#tail = 0;
  }
}
