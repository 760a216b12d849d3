/**
 * Reads a listener's W3C protocol log back (w3c.ts writes it): a daily file's entries, last ones
 * first, optionally only those containing a text (any case), with the `#Fields` in force for the
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
import { linesBackward, linesForward, openLog, ReadBudget } from './line-reader.js';

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
const escaped = (text: string): RegExp => new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i');

export interface ProtocolLogOptions {
  readonly file?: string;
  readonly search?: string;
  readonly limit?: number;
  readonly budget?: ReadBudget;
}

/** At most `limit` entries from the end of `file` (default: the newest) in `dir`. */
export async function readProtocolLog(dir: string, options: ProtocolLogOptions = {}): Promise<ProtocolLogPage> {
  const files = (await readdir(dir).catch(() => [] as string[])).filter((n) => FILE.test(n)).sort().reverse();
  const file = options.file !== undefined && files.includes(options.file) ? options.file : files[0];
  const handle = file === undefined ? undefined : await openLog(join(dir, file));
  if (handle === undefined) return { file, files, fields: [], rows: [] };
  const budget = options.budget ?? new ReadBudget();
  const limit = options.limit ?? 500;
  const match = options.search === undefined || options.search === '' ? undefined : escaped(options.search);
  let fields: string[] | undefined;
  const rows: string[][] = [];
  let oldest: string | undefined;
  try {
    // Once the page is full, a little more is read for the header in force (after a restart, usually near).
    let full: number | undefined;
    reading: for await (const { lines } of linesBackward(handle, { budget })) {
      for (const line of lines) {
        if (line.startsWith('#')) {
          if (fields === undefined && line.startsWith(FIELDS)) fields = fieldsOf(line);
          if (fields !== undefined && full !== undefined) break reading;
          continue;
        }
        if (full !== undefined) continue;
        oldest = line;
        if (match !== undefined && !match.test(line)) continue;
        rows.push(line.split(' '));
        if (rows.length < limit) continue;
        if (fields !== undefined) break reading;
        full = budget.used;
      }
      if (full !== undefined && budget.used - full >= HEADER_LOOKBACK) break;
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
async function firstFields(handle: Awaited<ReturnType<typeof openLog>> & object): Promise<string[]> {
  for await (const { lines } of linesForward(handle, { budget: new ReadBudget(HEAD), block: HEAD })) {
    const line = lines.find((l) => l.startsWith(FIELDS));
    if (line !== undefined) return fieldsOf(line);
  }
  return [];
}
