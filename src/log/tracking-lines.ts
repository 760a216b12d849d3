/**
 * The tracking log's day files read as lines, without parsing every line: a line's time, event and
 * id are read in place, and a day file is searched by time (its lines are in time order) in a few
 * small reads. The writer (tracking.ts) puts `time` first, so a line starts `{"time":"<ISO 8601>"`,
 * and JSON escapes the quotes inside string values, so `"key":"` in a line can only be a key.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileHandle } from 'node:fs/promises';
import { seekLine, type ReadBudget } from './line-reader.js';

const TIME_PREFIX = '{"time":"';
/** `2024-03-05T10:00:00.000Z` */
const ISO_LENGTH = 24;
const DAY_FILE = /^track-(\d{8})\.jsonl$/;

/** `YYYYMMDD`, the UTC day of `ms`, as in the day files' names. */
export function dayKey(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10).replaceAll('-', '');
}

/** The start (UTC midnight, in ms) of day `key`. */
export function dayStart(key: string): number {
  return Date.parse(`${key.slice(0, 4)}-${key.slice(4, 6)}-${key.slice(6, 8)}T00:00:00Z`);
}

/** The tracking log's file of day `key` in `dir` (tracking.ts names them). */
export function dayFile(dir: string, key: string): string {
  return join(dir, `track-${key}.jsonl`);
}

/** The days that have a tracking file under `dir`, oldest first; none if `dir` is missing. */
export async function trackingDays(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [] as string[];
    throw e;
  });
  return names.flatMap((n) => DAY_FILE.exec(n)?.[1] ?? []).sort();
}

/** The line's time (ISO 8601, sorts as text), or undefined for a line that does not start with one. */
export function lineTime(line: string): string | undefined {
  return line.startsWith(TIME_PREFIX) && line.charCodeAt(TIME_PREFIX.length + ISO_LENGTH) === 0x22
    ? line.slice(TIME_PREFIX.length, TIME_PREFIX.length + ISO_LENGTH)
    : undefined;
}

/** A string member such as `event`, `id` or `method`, for values without quotes or backslashes. */
export function lineField(line: string, key: string): string | undefined {
  const tag = `"${key}":"`;
  const at = line.indexOf(tag);
  if (at < 0) return undefined;
  const end = line.indexOf('"', at + tag.length);
  return end < 0 ? undefined : line.slice(at + tag.length, end);
}

function timeAt(buf: Buffer, at: number, end: number): string | undefined {
  if (end - at < TIME_PREFIX.length + ISO_LENGTH + 1) return undefined;
  return lineTime(buf.toString('latin1', at, at + TIME_PREFIX.length + ISO_LENGTH + 1));
}

/**
 * The offset of the first line whose time is `iso` or later (the file's size if none is), in a few
 * small reads (see `seekLine`).
 */
export function seekTime(handle: FileHandle, iso: string, budget: ReadBudget): Promise<number> {
  return seekLine(handle, budget, (buf, start, end) => {
    const time = timeAt(buf, start, end);
    return time === undefined ? undefined : time < iso;
  });
}
