/**
 * Reads log files by lines in bounded blocks: backwards from an end offset (newest lines first) or
 * forwards from a start offset, holding at most a block and one line in memory, whatever the file's
 * size. This is how the console reads history (a page stops reading once it has what it shows).
 *
 * Contract: only complete lines are returned, without their LF (or CRLF); blank lines are skipped.
 * A last line without its LF (torn by a crash, or being written now) is not returned, nor is a line
 * longer than `maxLine` (not something Barge writes). Every block read is first charged to the
 * request's `ReadBudget`: once it is spent, reading stops and `budget.exhausted` says so. Between
 * blocks the reader yields to the event loop (setImmediate), so one block's parsing (a few ms) is the
 * longest a page holds up SMTP sessions; the reads themselves run in libuv's thread pool.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { setImmediate as immediate } from 'node:timers/promises';

/** Bytes one console request may read from log files. */
export const DEFAULT_READ_LIMIT = 64 * 1024 * 1024;
/** Block size for scans: a block's lines are parsed in a few milliseconds. */
export const SCAN_BLOCK = 256 * 1024;
const MAX_LINE = 4 * 1024 * 1024;
const LF = 0x0a;
const CR = 0x0d;

/** The bytes one request may still read. */
export class ReadBudget {
  readonly limit: number;
  #left: number;
  #exhausted = false;

  constructor(limit = DEFAULT_READ_LIMIT) {
    this.limit = limit;
    this.#left = limit;
  }

  /** Takes up to `n` bytes: how many may be read (fewer, and exhausted from now on, once it runs out). */
  grant(n: number): number {
    const granted = Math.min(n, this.#left);
    if (granted < n) this.#exhausted = true;
    this.#left -= granted;
    return granted;
  }

  /** A read was refused: what the page shows is incomplete. */
  get exhausted(): boolean {
    return this.#exhausted;
  }

  get used(): number {
    return this.limit - this.#left;
  }
}

export interface LineBatch {
  readonly lines: string[];
  /** Forwards: the offset just after the last line returned (where a later read may resume). */
  readonly end: number;
}

export interface ReadOptions {
  readonly budget: ReadBudget;
  readonly block?: number;
  readonly maxLine?: number;
}

/** Adds the line `start..end` of `buf` (its LF excluded) without a final CR, unless it is blank. */
function addLine(lines: string[], buf: Buffer, start: number, end: number): void {
  const stop = end > start && buf[end - 1] === CR ? end - 1 : end;
  if (stop > start) lines.push(buf.toString('utf8', start, stop));
}

/** Opens `path` for reading; undefined if it does not exist (a day without a file). */
export async function openLog(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * The block being read and, after it, the piece of a line carried over from the previous block, in
 * one buffer: the common case costs no copy of the block. A carried piece longer than the room kept
 * for it (a very long line) is joined by a copy instead.
 */
class Work {
  readonly #buf: Buffer;
  readonly #block: number;

  constructor(block: number) {
    this.#block = block;
    this.#buf = Buffer.allocUnsafe(block + CARRY_ROOM);
  }

  /**
   * Reads `n` bytes at `position` and returns them followed (backwards) or preceded (forwards) by
   * `carry`; undefined if fewer were there (the file was cut short meanwhile).
   */
  async read(handle: FileHandle, n: number, position: number, carry: Buffer | undefined, carryFirst: boolean): Promise<Buffer | undefined> {
    const room = carry === undefined || carry.length <= CARRY_ROOM;
    const at = carryFirst && room && carry !== undefined ? carry.length : 0;
    const { bytesRead } = await handle.read(this.#buf, at, n, position);
    if (bytesRead < n) return undefined;
    if (carry === undefined) return this.#buf.subarray(0, n);
    if (!room) return Buffer.concat(carryFirst ? [carry, this.#buf.subarray(0, n)] : [this.#buf.subarray(0, n), carry]);
    if (!carryFirst) carry.copy(this.#buf, n);
    // Forwards, the carry was placed first before the read (`at`), unless it had no room.
    else carry.copy(this.#buf, 0);
    return this.#buf.subarray(0, n + carry.length);
  }

  get block(): number {
    return this.#block;
  }
}

/** Room kept after a block for the piece of a line carried over. */
const CARRY_ROOM = 64 * 1024;

/**
 * Runs of whole lines of `handle` before `end` (default: its size), the last run first: each buffer
 * holds complete LF-terminated lines and stays valid only until the next one is asked for. For
 * searching raw bytes without cutting every line out.
 */
export async function* chunksBackward(handle: FileHandle, options: ReadOptions & { readonly end?: number }): AsyncGenerator<Buffer> {
  const size = (await handle.stat()).size;
  const maxLine = options.maxLine ?? MAX_LINE;
  const work = new Work(options.block ?? SCAN_BLOCK);
  let pos = Math.min(options.end ?? size, size);
  /** The end of a line whose beginning lies before `pos`, with its LF. */
  let carry: Buffer | undefined;
  /** Until an LF is found, the bytes read belong to a torn (or overlong) line and are dropped. */
  let dropping = true;
  while (pos > 0) {
    const n = options.budget.grant(Math.min(work.block, pos));
    if (n === 0) return;
    let region = await work.read(handle, n, pos - n, carry, false);
    if (region === undefined) return;
    pos -= n;
    carry = undefined;
    if (dropping) {
      const last = region.lastIndexOf(LF);
      if (last < 0) continue;
      region = region.subarray(0, last + 1);
      dropping = false;
    }
    // region[0, first) ends a line that starts before this block, unless the file starts here.
    const first = pos === 0 ? 0 : region.indexOf(LF) + 1;
    if (first > maxLine) dropping = true;
    else if (first > 0) carry = Buffer.from(region.subarray(0, first));
    if (first < region.length) yield region.subarray(first);
    await immediate();
  }
}

/** The lines of `handle` before `end` (default: its size), last line first, batch by batch. */
export async function* linesBackward(handle: FileHandle, options: ReadOptions & { readonly end?: number }): AsyncGenerator<string[]> {
  for await (const chunk of chunksBackward(handle, options)) {
    const lines: string[] = [];
    // `lineEnd` is the LF ending the line being cut out; a chunk always ends with one.
    let lineEnd = chunk.length - 1;
    while (lineEnd >= 0) {
      const prev = lineEnd === 0 ? -1 : chunk.lastIndexOf(LF, lineEnd - 1);
      addLine(lines, chunk, prev + 1, lineEnd);
      lineEnd = prev;
    }
    if (lines.length > 0) yield lines;
  }
}

export interface Chunk {
  /** Whole LF-terminated lines, valid until the next chunk is asked for. */
  readonly bytes: Buffer;
  /** The file offset just after them (where a later read may resume). */
  readonly end: number;
}

/** Runs of whole lines of `handle` from `start` (a line start) to `end` (default: its size), in order. */
export async function* chunksForward(
  handle: FileHandle,
  options: ReadOptions & { readonly start?: number; readonly end?: number },
): AsyncGenerator<Chunk> {
  const size = (await handle.stat()).size;
  const end = Math.min(options.end ?? size, size);
  const maxLine = options.maxLine ?? MAX_LINE;
  const work = new Work(options.block ?? SCAN_BLOCK);
  let pos = options.start ?? 0;
  let carry: Buffer | undefined;
  /** An overlong line is being skipped up to its LF. */
  let skipping = false;
  while (pos < end) {
    const n = options.budget.grant(Math.min(work.block, end - pos));
    if (n === 0) return;
    const region = await work.read(handle, n, pos, carry, true);
    if (region === undefined) return;
    const regionStart = pos - (carry?.length ?? 0);
    pos += n;
    carry = undefined;
    let lineStart = 0;
    if (skipping) {
      const first = region.indexOf(LF);
      if (first < 0) continue;
      lineStart = first + 1;
      skipping = false;
    }
    const last = region.lastIndexOf(LF);
    const rest = region.length - (last + 1);
    if (rest > maxLine) skipping = true;
    else if (rest > 0) carry = Buffer.from(region.subarray(last + 1));
    yield { bytes: region.subarray(lineStart, Math.max(lineStart, last + 1)), end: regionStart + Math.max(lineStart, last + 1) };
    await immediate();
  }
}

/** The complete lines of `handle` from `start` (a line start) to `end` (default: its size), in order. */
export async function* linesForward(
  handle: FileHandle,
  options: ReadOptions & { readonly start?: number; readonly end?: number },
): AsyncGenerator<LineBatch> {
  for await (const { bytes, end } of chunksForward(handle, options)) {
    const lines: string[] = [];
    let lineStart = 0;
    for (let lf = bytes.indexOf(LF); lf >= 0; lf = bytes.indexOf(LF, lineStart)) {
      addLine(lines, bytes, lineStart, lf);
      lineStart = lf + 1;
    }
    yield { lines, end };
  }
}

/** The lines of a run of whole lines that contain `tag`, in order: only those are decoded. */
export function linesWith(chunk: Buffer, tag: Buffer): string[] {
  const lines: string[] = [];
  for (let at = chunk.indexOf(tag); at >= 0; ) {
    const start = chunk.lastIndexOf(LF, at) + 1;
    const end = chunk.indexOf(LF, at);
    addLine(lines, chunk, start, end < 0 ? chunk.length : end);
    at = end < 0 ? -1 : chunk.indexOf(tag, end + 1);
  }
  return lines;
}

/** Bytes read at each step of a bisection: a few lines of a log. */
const PROBE = 2 * 1024;

/**
 * The offset of the first line for which `before` is false (the file's size if there is none), found
 * by bisection over the file's bytes, for files whose lines are in order (logs by time). `before`
 * sees a line, or at least its first bytes, as `buf[start..end)` and returns undefined if it cannot tell:
 * the bisection then ends, and the rest is read line by line. Lines out of order (a clock stepped
 * back) make the answer approximate; callers that must find a line check what they read there.
 */
export async function seekLine(
  handle: FileHandle,
  budget: ReadBudget,
  before: (buf: Buffer, start: number, end: number) => boolean | undefined,
): Promise<number> {
  const size = (await handle.stat()).size;
  const buf = Buffer.allocUnsafe(PROBE);
  // Invariant: the answer is a line start in [lo, hi]; lo is the file's start or a line before the
  // answer, hi the size or a line start at or after it.
  let lo = 0;
  let hi = size;
  while (hi - lo > PROBE) {
    const mid = Math.floor((lo + hi) / 2);
    if (budget.grant(PROBE) < PROBE) break;
    const { bytesRead } = await handle.read(buf, 0, PROBE, mid);
    const probe = buf.subarray(0, bytesRead);
    const lf = probe.indexOf(LF);
    const lineStart = mid + lf + 1;
    const next = lf < 0 ? -1 : probe.indexOf(LF, lf + 1);
    const verdict = lf < 0 ? undefined : before(probe, lf + 1, next < 0 ? bytesRead : next);
    if (lineStart >= hi || verdict === undefined) break;
    if (verdict) lo = lineStart;
    else hi = lineStart;
  }
  // The last stretch, usually a probe or two, line by line.
  for (let at = lo; at < hi; ) {
    const n = budget.grant(Math.min(PROBE, size - at));
    if (n <= 0) return at;
    const { bytesRead } = await handle.read(buf, 0, n, at);
    const probe = buf.subarray(0, bytesRead);
    let start = 0;
    for (let lf = probe.indexOf(LF); lf >= 0; lf = probe.indexOf(LF, start)) {
      if (before(probe, start, lf) === false) return at + start;
      start = lf + 1;
    }
    // A line longer than a probe: taken as the answer rather than read further.
    if (start === 0) return at;
    at += start;
  }
  return hi;
}
