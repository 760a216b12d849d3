/**
 * The tracking log's index, appended as events are recorded (tracking.ts): one line per event about
 * a message, `<queue id> <time> <event>`, with the time as base-36 milliseconds (like queue ids).
 *
 * Each day has two index files under `<tracking dir>/index/`: `track-YYYYMMDD.idx` for the events in
 * the first hour after their message arrived (its queue id says when; see queue/ids.ts) — a
 * message's receipt and, usually, its whole story — and `track-YYYYMMDD.later.idx` for the events
 * after that (retries, late deliveries and bounces): only the traffic that waited. Both are in time
 * order, so a message's first hour is found by bisection at its arrival and read until it left the
 * queue or the hour ended; its later events are in the smaller `later` files of the days after.
 * Each file begins with `# indexed from <time>`: from then on it holds every event (the day's start,
 * or later for an index begun by an upgrade that day). Lines the writer had to drop leave a
 * `# N lost` line. Readers take a stretch before the first or around the second as incomplete, and
 * read the day file there instead. (Message-IDs have an index of their own: tracking-message-ids.ts.)
 */
import { join } from 'node:path';
import type { TrackingEvent } from './tracking-event.js';
import type { FileHandle } from 'node:fs/promises';
import { linesForward, openLog, seekLine, type ReadBudget } from './line-reader.js';

export const INDEX_FOLDER = 'index';
/** Events this long after their message's arrival go to the day's `later` index. */
export const FIRST_HOUR = 3_600_000;
const FILE = /^track-(\d{8})(\.later\.idx|\.idx|\.mid)$/;

/** Day `day`'s index (`YYYYMMDD`) of the first hour's events or, with `later`, of the later ones. */
export function indexPath(dir: string, day: string, later = false): string {
  return join(dir, INDEX_FOLDER, `track-${day}${later ? '.later' : ''}.idx`);
}

/** Whether `name` is an index file (Message-IDs' included), and of which day. */
export function indexDay(name: string): string | undefined {
  return FILE.exec(name)?.[1];
}

const HEADER = '# indexed from ';
const DIGITS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';
let lastMs = Number.NaN;
let lastText = '';

/**
 * A time as the index writes it: base-36 milliseconds, 9 digits (as in queue ids). Written out by
 * hand, and the last one kept: `Number.toString(36)` is slow, and an index line is written per event.
 */
export function base36(ms: number): string {
  if (ms === lastMs) return lastText;
  let rest = Math.max(0, Math.floor(ms));
  let text = '';
  for (let i = 0; i < 9; i++) {
    text = DIGITS.charAt(rest % 36) + text;
    rest = Math.floor(rest / 36);
  }
  lastMs = ms;
  lastText = text;
  return text;
}

export function indexHeader(from: number): string {
  return `${HEADER}${base36(from)}\n`;
}

export function indexLine(event: TrackingEvent & { id: string }, time: number): string {
  return `${event.id} ${base36(time)} ${event.event}\n`;
}

export interface IndexedEvent {
  readonly id: string;
  /** When it was recorded (ms): where its line is in the day file. */
  readonly time: number;
  readonly event: string;
}

function parseIndexLine(line: string): IndexedEvent | undefined {
  const [id, time36, event] = line.split(' ', 3);
  if (id === undefined || time36 === undefined || event === undefined || id.startsWith('#')) return undefined;
  const time = parseInt(time36, 36);
  return Number.isNaN(time) ? undefined : { id, time, event };
}

/** The time of the index line `buf[start..end)`, read in place for a bisection. */
function timeAt(buf: Buffer, start: number, end: number): number | undefined {
  const space = buf.indexOf(0x20, start);
  if (buf[start] === 0x23 || space < 0 || space + 10 > end) return undefined;
  const time = parseInt(buf.toString('latin1', space + 1, space + 10), 36);
  return Number.isNaN(time) ? undefined : time;
}

export interface IndexedStretch {
  /** The message's events in the stretch, in time order. */
  readonly events: IndexedEvent[];
  /** Events of the stretch may be missing: the index began after its start, or lost lines in it. */
  readonly incomplete: boolean;
}

/** When the index file began to hold every event, from its first line; undefined without that line. */
export async function coveredFrom(handle: FileHandle, budget: ReadBudget): Promise<number | undefined> {
  for await (const { lines } of linesForward(handle, { budget, end: 64, block: 64 })) {
    const first = lines[0] ?? '';
    if (first.startsWith(HEADER)) return parseInt(first.slice(HEADER.length), 36);
  }
  return undefined;
}

/**
 * The events about `id` in day `day`'s first-hour index from `from` to `to` (ms, both included) or,
 * without a range, in its whole `later` index from `from` on; the reading stops after a `completed`
 * event. Undefined if the file does not exist.
 */
export async function indexedEvents(
  dir: string,
  day: string,
  id: string,
  budget: ReadBudget,
  from: number,
  to?: number,
): Promise<IndexedStretch | undefined> {
  const handle = await openLog(indexPath(dir, day, to === undefined));
  if (handle === undefined) return undefined;
  const events: IndexedEvent[] = [];
  const prefix = `${id} `;
  let incomplete = false;
  try {
    incomplete = ((await coveredFrom(handle, budget)) ?? Number.POSITIVE_INFINITY) > from;
    // The first-hour index is read from the message's arrival on; the smaller later one whole.
    const start =
      to === undefined
        ? 0
        : await seekLine(handle, budget, (buf, s, e) => {
            const time = timeAt(buf, s, e);
            return time === undefined ? undefined : time < from;
          });
    reading: for await (const { lines } of linesForward(handle, { budget, start, block: to === undefined ? undefined : 4096 })) {
      for (const line of lines) {
        if (line.startsWith('#')) {
          incomplete ||= !line.startsWith(HEADER);
          continue;
        }
        const e = line.startsWith(prefix) || to !== undefined ? parseIndexLine(line) : undefined;
        if (e === undefined) continue;
        if (to !== undefined && e.time > to) break reading;
        if (e.id !== id) continue;
        events.push(e);
        if (e.event === 'completed') break reading;
      }
    }
  } finally {
    await handle.close();
  }
  return { events: events.sort((a, b) => a.time - b.time), incomplete };
}
