/**
 * One message's story from the tracking log: every event about a queue id, in order, found through
 * the index (tracking-index.ts) without reading the days it spans.
 *
 * Contract: the first hour after the message's arrival (its queue id says when) is read from the
 * first-hour index at that time; if the message had not left the queue by then (`completed`), the
 * `later` indexes of the days since are read until it did, or up to today. Only the lines the index
 * points at are read from the day files. A stretch the index does not cover (logs from before there
 * was one, an index begun after the message arrived, lost index lines) is searched in its day file
 * instead. An id that is not a queue id is looked for in the newest days. All reads are charged to
 * the request's budget: when it is spent, the story so far is returned with `stoppedAt`.
 */
import { arrivalTime } from '../message/queue-id.js';
import { chunksBackward, chunksForward, linesForward, linesWith, openLog, type ReadBudget } from './line-reader.js';
import { FIRST_HOUR, indexedEvents, type IndexedEvent } from './tracking-index.js';
import { dayFile, dayKey, dayStart, lineTime, seekTime, trackingDays } from './tracking-lines.js';
import { parseTrackingLine, type TrackingRecord } from './tracking.js';

export interface Story {
  readonly records: TrackingRecord[];
  /** Set when the budget ran out: the time (ISO) the reading had reached; later events may be missing. */
  readonly stoppedAt?: string;
}

/** Lines about one message are read a few at a time. */
const SMALL_BLOCK = 4 * 1024;
const DAY = 86_400_000;

const isoOf = (ms: number): string => new Date(ms).toISOString();
const left = (records: readonly TrackingRecord[]): boolean => records.some((r) => r.event === 'completed');

export async function readStory(dir: string, id: string, budget: ReadBudget): Promise<Story> {
  const arrival = arrivalTime(id);
  const days = await trackingDays(dir);
  if (arrival === undefined) return newestFirst(dir, days, id, budget);
  const records: TrackingRecord[] = [];
  const stopped = (): Story => ({ records, stoppedAt: records.at(-1)?.time ?? isoOf(arrival) });
  // The first hour, from the first-hour index of its day (or two, around midnight).
  const hourEnd = arrival + FIRST_HOUR;
  for (const day of days.filter((d) => d >= dayKey(arrival) && d <= dayKey(hourEnd))) {
    const from = Math.max(arrival, dayStart(day));
    const to = Math.min(hourEnd, dayStart(day) + DAY - 1);
    const index = await indexedEvents(dir, day, id, budget, from, to);
    const found =
      index === undefined || index.incomplete
        ? await searchDay(dir, day, id, budget, from, to)
        : await readIndexed(dir, day, id, index.events, budget);
    records.push(...found);
    if (budget.exhausted) return stopped();
    if (left(found)) return { records };
  }
  // Later events: the `later` index of each day since.
  for (const day of days.filter((d) => d >= dayKey(hourEnd))) {
    const from = Math.max(hourEnd + 1, dayStart(day));
    const index = await indexedEvents(dir, day, id, budget, from);
    const found =
      index === undefined || index.incomplete
        ? await searchDay(dir, day, id, budget, from)
        : await readIndexed(dir, day, id, index.events, budget);
    records.push(...found);
    if (budget.exhausted) return stopped();
    if (left(found)) break;
  }
  return { records };
}

/** Events this close together are read in one stretch of the day file, after one search by time. */
const CLUSTER_MS = 5000;

/** Groups sorted times into runs whose neighbours are at most CLUSTER_MS apart: [first, last] of each. */
function clusters(times: readonly number[]): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  for (const t of times) {
    const last = runs.at(-1);
    if (last !== undefined && t - last[1] <= CLUSTER_MS) last[1] = t;
    else runs.push([t, t]);
  }
  return runs;
}

/** The lines about `id` at the indexed times; if some are not where the index says, the day is searched. */
async function readIndexed(
  dir: string,
  day: string,
  id: string,
  events: readonly IndexedEvent[],
  budget: ReadBudget,
): Promise<TrackingRecord[]> {
  if (events.length === 0) return [];
  const handle = await openLog(dayFile(dir, day));
  if (handle === undefined) return [];
  const tag = `"id":"${id}"`;
  const out: TrackingRecord[] = [];
  try {
    for (const [first, last] of clusters(events.map((e) => e.time))) {
      const end = isoOf(last);
      const start = await seekTime(handle, isoOf(first), budget);
      reading: for await (const { lines } of linesForward(handle, { budget, start, block: SMALL_BLOCK })) {
        for (const line of lines) {
          if ((lineTime(line) ?? '') > end) break reading;
          const r = line.includes(tag) ? parseTrackingLine(line) : undefined;
          if (r !== undefined && 'id' in r && r.id === id) out.push(r);
        }
      }
    }
  } finally {
    await handle.close();
  }
  if (out.length < events.length && !budget.exhausted) return searchDay(dir, day, id, budget, events[0]?.time, events.at(-1)?.time);
  return out;
}

/** The events about `id` in day `day`'s file from `from` to `to` (ms, both included, default: the day's end). */
async function searchDay(dir: string, day: string, id: string, budget: ReadBudget, from?: number, to?: number): Promise<TrackingRecord[]> {
  const handle = await openLog(dayFile(dir, day));
  if (handle === undefined) return [];
  const tag = Buffer.from(`"id":"${id}"`);
  const end = to === undefined ? undefined : isoOf(to);
  const out: TrackingRecord[] = [];
  try {
    const start = from === undefined ? 0 : await seekTime(handle, isoOf(from), budget);
    for await (const { bytes } of chunksForward(handle, { budget, start })) {
      for (const line of linesWith(bytes, tag)) {
        if (end !== undefined && (lineTime(line) ?? '') > end) return out;
        const r = parseTrackingLine(line);
        if (r === undefined || !('id' in r) || r.id !== id) continue;
        out.push(r);
        if (r.event === 'completed') return out;
      }
      const last = bytes.lastIndexOf(0x0a, bytes.length - 2) + 1;
      if (end !== undefined && (lineTime(bytes.toString('latin1', last, last + 40)) ?? '') > end) return out;
    }
  } finally {
    await handle.close();
  }
  return out;
}

/** An id that says nothing of its time: the days are read newest first, within the budget. */
async function newestFirst(dir: string, days: readonly string[], id: string, budget: ReadBudget): Promise<Story> {
  const tag = Buffer.from(`"id":"${id}"`);
  const found: TrackingRecord[] = [];
  let reached: string | undefined;
  for (const day of [...days].reverse()) {
    const handle = await openLog(dayFile(dir, day));
    if (handle === undefined) continue;
    try {
      for await (const chunk of chunksBackward(handle, { budget })) {
        for (const line of linesWith(chunk, tag).reverse()) {
          const r = parseTrackingLine(line);
          if (r !== undefined && 'id' in r && r.id === id) found.push(r);
        }
        reached = lineTime(chunk.toString('latin1', 0, 40)) ?? reached;
      }
    } finally {
      await handle.close();
    }
    if (budget.exhausted) break;
  }
  const records = found.reverse();
  return budget.exhausted && reached !== undefined ? { records, stoppedAt: reached } : { records };
}
