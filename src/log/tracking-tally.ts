/**
 * The overview's numbers from the tracking log: events per minute over the last hour, read backwards
 * from the end of today's file (and yesterday's, in the first hour of a day) until an hour ago; and
 * today's totals (BDAT and DATA in and out, fallbacks, quirks), counted forwards from where the
 * previous count stopped, so each view reads only what was written since. Lines are read in place
 * (tracking-lines.ts, tracking-scan.ts), not parsed. Every read is charged to the request's budget: a count it cuts
 * short resumes at the next view, and says so meanwhile.
 */
import { chunksForward, linesBackward, openLog, type ReadBudget } from './line-reader.js';
import { dayFile, dayKey, lineField, lineTime } from './tracking-lines.js';
import { ascii, bytesAt, inLayout, NAME_AT } from './tracking-scan.js';
import { parseTrackingLine } from './tracking.js';

export type MinuteCounts = Record<'received' | 'delivered' | 'deferred' | 'bounced', number[]>;

const MINUTE = 60_000;

const isCounted = (event: string | undefined): event is keyof MinuteCounts =>
  event === 'received' || event === 'delivered' || event === 'deferred' || event === 'bounced';

/** Events per minute for the `minutes` minutes up to `now` (oldest first). */
export async function perMinute(dir: string, now: Date, budget: ReadBudget, minutes = 60): Promise<MinuteCounts> {
  const counts: MinuteCounts = { received: [], delivered: [], deferred: [], bounced: [] };
  for (const k of Object.keys(counts) as Array<keyof MinuteCounts>) counts[k] = new Array<number>(minutes).fill(0);
  const start = now.getTime() - minutes * MINUTE;
  const startIso = new Date(start).toISOString();
  const endIso = now.toISOString();
  for (const day of [...new Set([dayKey(now.getTime()), dayKey(start)])]) {
    const handle = await openLog(dayFile(dir, day));
    if (handle === undefined) continue;
    try {
      reading: for await (const lines of linesBackward(handle, { budget })) {
        for (const line of lines) {
          const time = lineTime(line);
          if (time === undefined || time >= endIso) continue;
          if (time < startIso) break reading;
          const event = lineField(line, 'event');
          if (!isCounted(event)) continue;
          const row = counts[event];
          const slot = Math.floor((Date.parse(time) - start) / MINUTE);
          row[slot] = (row[slot] ?? 0) + 1;
        }
      }
    } finally {
      await handle.close();
    }
  }
  return counts;
}

export interface TodayCounts {
  inBdat: number;
  inData: number;
  outBdat: number;
  outData: number;
  fallbacks: number;
  quirks: number;
}

export interface TodayTally {
  readonly counts: Readonly<TodayCounts>;
  /** Set while the count has not reached the end of today's file: the time (ISO) it has counted up to. */
  readonly countedTo?: string;
}

const zero = (): TodayCounts => ({ inBdat: 0, inData: 0, outBdat: 0, outData: 0, fallbacks: 0, quirks: 0 });

const RECEIVED = ascii('received"');
const DELIVERED = ascii('delivered"');
const QUIRK = ascii('quirk"');
const BDAT = Buffer.from('"method":"BDAT"');
const DATA = Buffer.from('"method":"DATA"');
const FALLBACK = Buffer.from('"fallback":');

/** Counts one event, parsed (a line not in the writer's layout). */
function countParsed(t: TodayCounts, line: string): void {
  const r = parseTrackingLine(line);
  if (r?.event === 'received') r.method === 'BDAT' ? t.inBdat++ : t.inData++;
  if (r?.event === 'delivered' && r.method !== undefined) r.method === 'BDAT' ? t.outBdat++ : t.outData++;
  if (r?.event === 'delivered' && r.fallback !== undefined) t.fallbacks++;
  if (r?.event === 'quirk') t.quirks++;
}

/** Counts the events of a run of whole lines on their bytes (see tracking-scan.ts for the layout). */
function count(t: TodayCounts, chunk: Buffer): void {
  for (let s = 0; s < chunk.length; ) {
    const e = chunk.indexOf(0x0a, s);
    const end = e < 0 ? chunk.length : e;
    if (end - s <= NAME_AT + 8 || !inLayout(chunk, s)) {
      if (end > s) countParsed(t, chunk.toString('utf8', s, end));
    } else if (bytesAt(chunk, s + NAME_AT, RECEIVED)) {
      if (chunk.subarray(s, end).includes(BDAT)) t.inBdat++;
      else t.inData++;
    } else if (bytesAt(chunk, s + NAME_AT, DELIVERED)) {
      const line = chunk.subarray(s, end);
      if (line.includes(BDAT)) t.outBdat++;
      else if (line.includes(DATA)) t.outData++;
      if (line.includes(FALLBACK)) t.fallbacks++;
    } else if (bytesAt(chunk, s + NAME_AT, QUIRK)) t.quirks++;
    s = end + 1;
  }
}

/** Today's totals, kept between views: one per tracking directory. */
export class DayTally {
  readonly #dir: string;
  #day = '';
  #offset = 0;
  #counts = zero();
  #last: string | undefined;
  /** One count at a time: two views at once must not count the same lines twice. */
  #running: Promise<unknown> = Promise.resolve();

  constructor(dir: string) {
    this.#dir = dir;
  }

  today(now: Date, budget: ReadBudget): Promise<TodayTally> {
    const next = this.#running.then(() => this.#count(now, budget));
    // The caller gets the failure; the chain only orders the counts.
    this.#running = next.catch(() => undefined);
    return next;
  }

  async #count(now: Date, budget: ReadBudget): Promise<TodayTally> {
    const day = dayKey(now.getTime());
    if (day !== this.#day) this.#reset(day);
    const handle = await openLog(dayFile(this.#dir, day));
    if (handle === undefined) return { counts: { ...this.#counts } };
    try {
      const size = (await handle.stat()).size;
      // A smaller file is not the one counted so far (removed and written again).
      if (size < this.#offset) this.#reset(day);
      for await (const { bytes, end } of chunksForward(handle, { budget, start: this.#offset, end: size })) {
        count(this.#counts, bytes);
        this.#offset = end;
        const lastLine = bytes.lastIndexOf(0x0a, bytes.length - 2) + 1;
        this.#last = lineTime(bytes.toString('latin1', lastLine, lastLine + 40)) ?? this.#last;
      }
      const counts = { ...this.#counts };
      return budget.exhausted && this.#last !== undefined ? { counts, countedTo: this.#last } : { counts };
    } finally {
      await handle.close();
    }
  }

  #reset(day: string): void {
    this.#day = day;
    this.#offset = 0;
    this.#counts = zero();
    this.#last = undefined;
  }
}
