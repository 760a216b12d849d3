/**
 * A write-ahead log of queue entries in shared, preallocated segment files. Appends wait in memory
 * while a flush runs; then one gathered write and one fdatasync make the whole group durable
 * (group commit), and only then does each append resolve. A DONE record retires a message; the
 * oldest segment whose messages are all done is renamed to a new generation and reused.
 *
 * Durability: a record counts only if its header names the segment's generation and its CRC-32
 * holds, and recovery stops at the first record that does not, so a write cut short by a crash is
 * never taken for a message, and stale records in a reused file are never taken for new ones. A
 * reused file is renamed and its directory fsync'd before anything is written to it. After recovery
 * appends go to a fresh segment, so nothing is ever written after a torn record.
 */
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { encodeDone, encodeMessage, HEADER, messageSize, parse } from './record.js';

export type AppendOutcome = { readonly kind: 'durable' } | { readonly kind: 'failed'; readonly reason: string };

export interface Recovery {
  readonly segments: number;
  readonly messages: number;
  /** Segments whose valid records ended in a torn write (a crash mid-flush). */
  readonly tornSegments: number;
  readonly ms: number;
}

interface Location {
  readonly generation: number;
  readonly offset: number;
  readonly length: number;
  readonly envelope: string;
}

interface Pending {
  /** The record's buffers, sealed for the generation it lands in. */
  readonly build: (generation: number) => Buffer[];
  readonly size: number;
  readonly apply: (generation: number, offset: number) => void;
  readonly resolve: (o: AppendOutcome) => void;
}

const name = (generation: number): string => `${String(generation).padStart(10, '0')}.seg`;

export class SegmentLog {
  readonly #dir: string;
  readonly #segmentSize: number;
  readonly #live = new Map<string, Location>();
  /** Live messages per segment generation, oldest first (Map keeps insertion order). */
  readonly #count = new Map<number, number>();
  readonly #free: number[] = [];
  #generation = 0;
  #file: FileHandle | undefined;
  #tail = 0;
  #queue: Pending[] = [];
  #flushing: Promise<void> = Promise.resolve();
  #running = false;
  /** Flushes (one gathered write and one fdatasync each) since open: the group-commit count. */
  syncs = 0;

  private constructor(dir: string, segmentSize: number) {
    this.#dir = dir;
    this.#segmentSize = segmentSize;
  }

  /** Opens (creating) the log in `dir`, replaying every segment. */
  static async open(dir: string, options: { segmentSize?: number } = {}): Promise<{ log: SegmentLog; recovery: Recovery }> {
    const started = performance.now();
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const log = new SegmentLog(dir, options.segmentSize ?? 8 * 1024 * 1024);
    const generations = (await readdir(dir)).filter((n) => /^\d{10}\.seg$/.test(n)).map((n) => Number(n.slice(0, 10))).sort((a, b) => a - b);
    let torn = 0;
    for (const g of generations) if (log.#replay(g, await readFile(join(dir, name(g))))) torn++;
    // Oldest first only, as in #drop: a newer empty segment may hold DONE records for older ones.
    for (const g of generations) {
      if ((log.#count.get(g) ?? 0) > 0) break;
      log.#retire(g);
    }
    log.#generation = generations.at(-1) ?? 0;
    const recovery = { segments: generations.length, messages: log.#live.size, tornSegments: torn, ms: performance.now() - started };
    return { log, recovery };
  }

  /** Returns true when the segment ended in a torn record. */
  #replay(generation: number, segment: Buffer): boolean {
    this.#count.set(generation, 0);
    for (let at = 0; ; ) {
      const p = parse(segment, at, generation);
      if (p.kind !== 'record') return p.kind === 'torn';
      const r = p.record;
      if (r.type === 'message') this.#add(r.id, { generation, offset: at + r.bodyOffset, length: r.bodyLength, envelope: r.envelope });
      else this.#drop(r.id, false);
      at += p.size;
    }
  }

  get size(): number {
    return this.#live.size;
  }

  /** Live message ids in log order (oldest first). */
  ids(): string[] {
    return [...this.#live.keys()];
  }

  envelope(id: string): string | undefined {
    return this.#live.get(id)?.envelope;
  }

  /** The message octets of a live entry. */
  messageStream(id: string): Readable | undefined {
    const at = this.#live.get(id);
    if (at === undefined) return undefined;
    return createReadStream(join(this.#dir, name(at.generation)), { start: at.offset, end: at.offset + at.length - 1, highWaterMark: 256 * 1024 });
  }

  /** Makes a message durable; resolves only after the fdatasync that covers it. */
  append(id: string, envelope: string, body: readonly Buffer[]): Promise<AppendOutcome> {
    const size = messageSize(id, envelope, body);
    if (size > this.#segmentSize) return Promise.resolve({ kind: 'failed', reason: `record of ${size} octets exceeds the segment size` });
    const bodyOffset = size - body.reduce((n, b) => n + b.length, 0);
    return this.#enqueue(size, (g) => encodeMessage(g, id, envelope, body), (g, offset) => this.#add(id, { generation: g, offset: offset + bodyOffset, length: size - bodyOffset, envelope }));
  }

  /** Retires a message for good (delivered or bounced); durable when it resolves. */
  done(id: string): Promise<AppendOutcome> {
    return this.#enqueue(HEADER + Buffer.byteLength(id, 'latin1'), (g) => encodeDone(g, id), () => this.#drop(id));
  }

  async close(): Promise<void> {
    while (this.#running) await this.#flushing;
    await this.#file?.close();
    this.#file = undefined;
  }

  #enqueue(size: number, build: Pending['build'], apply: Pending['apply']): Promise<AppendOutcome> {
    return new Promise((resolve) => {
      this.#queue.push({ build, size, apply, resolve });
      // #running is cleared in the same tick the flusher sees an empty queue, so no append is stranded.
      if (this.#running) return;
      this.#running = true;
      this.#flushing = this.#flushAll();
    });
  }

  async #flushAll(): Promise<void> {
    for (;;) {
      if (this.#queue.length === 0) {
        this.#running = false;
        return;
      }
      const group: Pending[] = [];
      let bytes = 0;
      if (this.#file === undefined || this.#tail + (this.#queue[0]?.size ?? 0) > this.#segmentSize) {
        const opened = await this.#nextSegment().then(() => undefined, (e: unknown) => String(e));
        if (opened !== undefined) {
          for (const p of this.#queue.splice(0)) p.resolve({ kind: 'failed', reason: opened });
          continue;
        }
      }
      while (this.#queue[0] !== undefined && this.#tail + bytes + this.#queue[0].size <= this.#segmentSize) {
        const p = this.#queue.shift();
        if (p === undefined) break;
        group.push(p);
        bytes += p.size;
      }
      await this.#write(group, bytes);
    }
  }

  async #write(group: Pending[], bytes: number): Promise<void> {
    const file = this.#file;
    if (file === undefined) return;
    const g = this.#generation;
    const start = this.#tail;
    const buffers = group.flatMap((p) => p.build(g));
    // A zero header after the group marks the clean end of a reused file; the next group overwrites it.
    const end = Math.min(HEADER, this.#segmentSize - start - bytes);
    if (end > 0) buffers.push(Buffer.alloc(end));
    const total = bytes + Math.max(end, 0);
    try {
      for (let done = 0; done < total; ) done += (await file.writev(remaining(buffers, done), start + done)).bytesWritten;
      await file.datasync();
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

  /** Moves to a new generation: a retired segment renamed, or a new zero-filled one. */
  async #nextSegment(): Promise<void> {
    const previous = this.#file;
    this.#file = undefined;
    await previous?.close();
    const g = this.#generation + 1;
    const target = join(this.#dir, name(g));
    const reuse = this.#free.shift();
    if (reuse !== undefined) await rename(join(this.#dir, name(reuse)), target);
    else await preallocate(target, this.#segmentSize);
    await syncDir(this.#dir);
    this.#file = await open(target, 'r+');
    this.#generation = g;
    this.#count.set(g, 0);
    this.#tail = 0;
  }

  #add(id: string, at: Location): void {
    this.#drop(id);
    this.#live.set(id, at);
    this.#count.set(at.generation, (this.#count.get(at.generation) ?? 0) + 1);
  }

  /** `retire` is false during replay: a segment looks empty until all of it has been read. */
  #drop(id: string, retire = true): void {
    const at = this.#live.get(id);
    if (at === undefined) return;
    this.#live.delete(id);
    this.#count.set(at.generation, (this.#count.get(at.generation) ?? 1) - 1);
    if (!retire) return;
    // Oldest first only: a DONE record always lies in its message's segment or a newer one.
    for (const [g, n] of this.#count) {
      if (n > 0 || g === this.#generation) break;
      this.#retire(g);
    }
  }

  #retire(generation: number): void {
    this.#count.delete(generation);
    this.#free.push(generation);
  }
}

function remaining(buffers: Buffer[], skip: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of buffers) {
    if (skip >= b.length) skip -= b.length;
    else {
      out.push(skip === 0 ? b : b.subarray(skip));
      skip = 0;
    }
  }
  return out;
}

async function preallocate(path: string, size: number): Promise<void> {
  const tmp = `${path}.new`;
  const file = await open(tmp, 'w', 0o600);
  try {
    const zeros = Buffer.alloc(Math.min(size, 1024 * 1024));
    for (let at = 0; at < size; ) at += (await file.write(zeros, 0, Math.min(zeros.length, size - at), at)).bytesWritten;
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(tmp, path);
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
