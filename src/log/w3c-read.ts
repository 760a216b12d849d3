/**
 * Reads a listener's W3C protocol log back (w3c.ts writes it): a daily file's entries, last ones
 * first, optionally only those containing a text (in any ASCII case), with the `#Fields` in force for the
 * newest entry shown as column names. Fields are space-separated with spaces inside values written
 * as '+', so a split is exact.
 *
 * Contract: the file is read backwards from its end in blocks (line-reader.ts) and reading stops once
 * `limit` entries are found, or when the request's budget is spent (then `searchedBackTo` gives the
 * time field, when logged, of the oldest entry read). The columns are those of the first `#Fields`
 * line met going back (looked for up to a MiB past a full page); if none was met, the file's first
 * one (they differ only if the fields were changed that day and the server restarted long before
 * the entries shown).
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileHandle } from 'node:fs/promises';
import { chunksBackward, linesForward, openLog, ReadBudget, SCAN_BLOCK } from './line-reader.js';

export interface ProtocolLogPage {
  /** The file read ("ex261201.log"), undefined when the folder has none. */
  readonly file: string | undefined;
  readonly files: readonly string[];
  readonly fields: readonly string[];
  readonly rows: ReadonlyArray<readonly string[]>;
  /** Set when the budget ran out before the page was full: how far back (the `time` field, or '') it searched. */
  readonly searchedBackTo?: string;
}

const FILE = /^ex\d{6}\.log$/;
const FIELDS = '#Fields:';
/** The head of a file holds its first header block. */
const HEAD = 4096;
/** Bytes read past a full page looking for its header before the file's first is taken. */
const HEADER_LOOKBACK = 1024 * 1024;

const fieldsOf = (line: string): string[] => line.slice(FIELDS.length).trim().split(' ');
const LF = 0x0a;
const HASH = 0x23;
const HEADER = Buffer.from(`\n${FIELDS}`);
/** ASCII upper case to lower case, every other byte as it is. */
const LOWER = Uint8Array.from({ length: 256 }, (_, c) => (c >= 0x41 && c <= 0x5a ? c | 0x20 : c));

export interface ProtocolLogOptions {
  readonly file?: string;
  /** A text entries must contain, in any ASCII case. */
  readonly search?: string;
  readonly limit?: number;
  readonly budget?: ReadBudget;
}

interface Found {
  /** The entries (not directives) found, newest first, at most the number wanted. */
  readonly entries: string[];
  /** The last `#Fields` line of the chunk, if it has one. */
  readonly header: string | undefined;
  /** The chunk's first (oldest) entry. */
  readonly oldest: string | undefined;
}

/** The text of the line `start..end` (its LF excluded), without a final CR. */
function lineAt(chunk: Buffer, start: number, end: number): string {
  return chunk.toString('utf8', start, end > start && chunk[end - 1] === 0x0d ? end - 1 : end);
}

/**
 * The entries of a run of whole lines (`chunk`) that contain `needle` (lower-case bytes; all entries
 * without one), newest first. A search runs over the run's bytes, lowered into `lowered`, and only
 * the lines it hits are made into text: most of a large file is never decoded.
 */
function find(chunk: Buffer, needle: Buffer | undefined, want: number, lowered: Buffer): Found {
  const entries: string[] = [];
  if (needle === undefined) {
    for (let end = chunk.length - 1; end >= 0 && entries.length < want; ) {
      const start = end === 0 ? 0 : chunk.lastIndexOf(LF, end - 1) + 1;
      if (end > start && chunk[start] !== HASH && !(end - start === 1 && chunk[start] === 0x0d)) entries.push(lineAt(chunk, start, end));
      end = start - 1;
    }
  } else {
    const text = lowered.subarray(0, chunk.length);
    for (let i = 0; i < chunk.length; i++) text[i] = LOWER[chunk[i] ?? 0] ?? 0;
    for (let at = text.lastIndexOf(needle); at >= 0 && entries.length < want; ) {
      const start = text.lastIndexOf(LF, at) + 1;
      const end = text.indexOf(LF, at);
      if (chunk[start] !== HASH) entries.push(lineAt(chunk, start, end));
      at = start === 0 ? -1 : text.lastIndexOf(needle, start - 1);
    }
  }
  const last = chunk.lastIndexOf(HEADER);
  const headerAt = last >= 0 ? last + 1 : chunk.indexOf(FIELDS) === 0 ? 0 : -1;
  const header = headerAt < 0 ? undefined : lineAt(chunk, headerAt, chunk.indexOf(LF, headerAt));
  let oldest: string | undefined;
  for (let start = 0; start < chunk.length && oldest === undefined; start = chunk.indexOf(LF, start) + 1) {
    if (chunk[start] !== HASH) oldest = lineAt(chunk, start, chunk.indexOf(LF, start));
  }
  return { entries, header, oldest };
}

/** At most `limit` entries from the end of `file` (default: the newest) in `dir`. */
export async function readProtocolLog(dir: string, options: ProtocolLogOptions = {}): Promise<ProtocolLogPage> {
  const files = (await readdir(dir).catch(() => [] as string[]))
    .filter((n) => FILE.test(n))
    .sort()
    .reverse();
  const file = options.file !== undefined && files.includes(options.file) ? options.file : files[0];
  const handle = file === undefined ? undefined : await openLog(join(dir, file));
  if (handle === undefined) return { file, files, fields: [], rows: [] };
  const budget = options.budget ?? new ReadBudget();
  const limit = options.limit ?? 500;
  const needle = options.search === undefined || options.search === '' ? undefined : Buffer.from(options.search.toLowerCase());
  const lowered = Buffer.allocUnsafe(needle === undefined ? 0 : SCAN_BLOCK + 64 * 1024);
  let fields: string[] | undefined;
  const rows: string[][] = [];
  let oldest: string | undefined;
  try {
    // Once the page is full, a little more is read for the header in force (after a restart, usually near).
    let full: number | undefined;
    for await (const chunk of chunksBackward(handle, { budget })) {
      if (full !== undefined) {
        const at = chunk.lastIndexOf(HEADER);
        if (at >= 0) fields = fieldsOf(lineAt(chunk, at + 1, chunk.indexOf(LF, at + 1)));
        if (fields !== undefined || budget.used - full >= HEADER_LOOKBACK) break;
        continue;
      }
      const found = find(chunk, needle, limit - rows.length, lowered.length >= chunk.length ? lowered : Buffer.allocUnsafe(chunk.length));
      for (const entry of found.entries) rows.push(entry.split(' '));
      oldest = found.oldest ?? oldest;
      if (fields === undefined && found.header !== undefined) fields = fieldsOf(found.header);
      if (rows.length < limit) continue;
      if (fields !== undefined) break;
      full = budget.used;
    }
    fields ??= await firstFields(handle);
  } finally {
    await handle.close();
  }
  const page = { file, files, fields, rows };
  if (!budget.exhausted || rows.length >= limit) return page;
  const at = fields.indexOf('time');
  return { ...page, searchedBackTo: at < 0 ? '' : (oldest?.split(' ')[at] ?? '') };
}

/** The file's first `#Fields` line, from its head. */
async function firstFields(handle: FileHandle): Promise<string[]> {
  for await (const { lines } of linesForward(handle, { budget: new ReadBudget(HEAD), block: HEAD })) {
    const line = lines.find((l) => l.startsWith(FIELDS));
    if (line !== undefined) return fieldsOf(line);
  }
  return [];
}
