/**
 * The message tracking log: one JSON object per line recording each message's fate (received or
 * rejected, then per recipient delivered, deferred or bounced, then completed), including the
 * transfer method (DATA or BDAT, chunk count) so fallbacks can be audited.
 *
 * Contract: `record()` stamps the event with `time` (ISO 8601, UTC) and appends it to
 * `track-YYYYMMDD.jsonl` (UTC date) under `dir`; it is synchronous, ordered and never throws.
 * JSON.stringify escapes CR, LF and every other control character, so one event is always one line.
 * Writing, bounded buffering and error reporting are shared with the W3C log (appender.ts); texts
 * lost to a full buffer or a write error are counted in a `{"time":...,"dropped":N}` line, which
 * readers skip because it is not an event. Each event about a message also gets a line in the day's
 * index (tracking-index.ts), and each receipt with a Message-ID one in the day's Message-ID index
 * (tracking-message-ids.ts), so the console finds a message without reading days.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Appender } from './appender.js';
import { arrivalTime } from '../message/queue-id.js';
import { FIRST_HOUR, indexHeader, indexLine, indexPath } from './tracking-index.js';
import { dayKey, dayStart } from './tracking-lines.js';
import { messageIdLine, messageIdPath } from './tracking-message-ids.js';
import { realClock, type Clock } from '../time/clock.js';

export type { TrackingEvent, TrackingRecord, TransferMethod } from './tracking-event.js';
import type { TrackingEvent, TrackingRecord } from './tracking-event.js';

const EVENTS: ReadonlySet<string> = new Set([
  'received',
  'rejected',
  'delivered',
  'deferred',
  'bounced',
  'completed',
  'quirk',
  'signed',
  'authenticated',
  'tls-policy',
  'bug',
]);
const FILE = /^track-\d{8}\.jsonl$/;

export interface TrackingLogOptions {
  /** `<dataDir>/log/tracking`; created if missing. */
  readonly dir: string;
  readonly clock?: Clock;
  readonly onError?: (e: Error) => void;
  /** Bound on buffered bytes while the disk is slow; see appender.ts. */
  readonly maxBufferBytes?: number;
}

/** `track-YYYYMMDD.jsonl` for the UTC date of `d`. */
export function trackingFileName(d: Date): string {
  return `track-${d.toISOString().slice(0, 10).replaceAll('-', '')}.jsonl`;
}

/** A failing disk fails the day file and its index together: one report for both (within a second). */
function oneReport(onError: ((e: Error) => void) | undefined): ((e: Error) => void) | undefined {
  if (onError === undefined) return undefined;
  let last = Number.NEGATIVE_INFINITY;
  return (e) => {
    const at = performance.now();
    if (at - last >= 1000) onError(e);
    last = at;
  };
}

/** Events about one message (a bug event names one only when it happened in a delivery). */
const hasId = (event: TrackingEvent): event is TrackingEvent & { id: string } => 'id' in event && typeof event.id === 'string';

export class TrackingLog {
  readonly #dir: string;
  readonly #clock: Clock;
  readonly #out: Appender;
  readonly #index: Appender;
  readonly #later: Appender;
  readonly #messageIds: Appender;
  /** The files for the current UTC day (`YYYY-MM-DD` of the stamp), so an event costs no path building. */
  #day = '';
  #path = '';
  #indexPath = '';
  #laterPath = '';
  #messageIdPath = '';
  /** The last stamp's time in ms, for the index (a stamp and its index line are made together). */
  #stampMs = 0;

  constructor(options: TrackingLogOptions) {
    this.#dir = options.dir;
    this.#clock = options.clock ?? realClock;
    const onError = oneReport(options.onError);
    this.#out = new Appender({
      maxBufferBytes: options.maxBufferBytes,
      onError,
      clock: this.#clock,
      notice: (count) => `${JSON.stringify({ time: this.#stamp(), dropped: count })}\n`,
    });
    // Index lines lost to a full buffer are marked, so readers know that stretch of the index is incomplete.
    // Each index file opens with the time from which it holds every event: the day's start, or this
    // process's if it began that day (an index begun by an upgrade lacks the day's earlier events).
    const since = this.#clock.now().getTime();
    const index = {
      maxBufferBytes: options.maxBufferBytes,
      onError,
      clock: this.#clock,
      header: (_path: string, at: Date) => indexHeader(Math.max(since, dayStart(dayKey(at.getTime())))),
      notice: (count: number) => `# ${count} lost\n`,
    };
    this.#index = new Appender(index);
    this.#later = new Appender(index);
    this.#messageIds = new Appender(index);
  }

  /** Queues one event; never throws. */
  record(event: TrackingEvent): void {
    try {
      const time = this.#stamp();
      // `time` first, so the files read well with grep and sort; spliced in rather than copying the
      // event into a new object (an event always has at least its `event` member after the brace).
      const line = `{"time":"${time}",${JSON.stringify(event).slice(1)}\n`;
      if (this.#day === '' || !time.startsWith(this.#day)) this.#startDay(time);
      // An event the buffer could not take is not indexed either.
      if (this.#out.append(this.#path, line) && hasId(event)) this.#indexEvent(event, this.#stampMs);
    } catch {
      // Unreachable with well-typed events (no cycles, no BigInt); tracking is never worth a crash.
    }
  }

  /**
   * The day's files. Its index files are begun at once (their header says from when they hold every
   * event), so a day file without them was written before there was an index, and an index file
   * without a line means no such event that day.
   */
  #startDay(time: string): void {
    const day = time.slice(0, 10);
    const key = day.replaceAll('-', '');
    this.#day = day;
    this.#path = join(this.#dir, trackingFileName(new Date(time)));
    this.#indexPath = indexPath(this.#dir, key);
    this.#laterPath = indexPath(this.#dir, key, true);
    this.#messageIdPath = messageIdPath(this.#dir, key);
    this.#index.append(this.#indexPath, '');
    this.#later.append(this.#laterPath, '');
    this.#messageIds.append(this.#messageIdPath, '');
  }

  /** The first hour after the message's arrival goes to the day's index, later events to its `later` index. */
  #indexEvent(event: TrackingEvent & { id: string }, at: number): void {
    if (event.event === 'received' && event.messageId !== undefined)
      this.#messageIds.append(this.#messageIdPath, messageIdLine(event.id, at, event.messageId));
    const arrival = arrivalTime(event.id);
    if (arrival !== undefined && at - arrival > FIRST_HOUR) this.#later.append(this.#laterPath, indexLine(event, at));
    else this.#index.append(this.#indexPath, indexLine(event, at));
  }

  async flush(): Promise<void> {
    await Promise.all([this.#out.flush(), this.#index.flush(), this.#later.flush(), this.#messageIds.flush()]);
  }

  async close(): Promise<void> {
    await Promise.all([this.#out.close(), this.#index.close(), this.#later.close(), this.#messageIds.close()]);
  }

  /** A valid ISO time even if the injected clock returns an invalid Date. */
  #stamp(): string {
    const d = this.#clock.now();
    const valid = Number.isNaN(d.getTime()) ? new Date() : d;
    this.#stampMs = valid.getTime();
    return valid.toISOString();
  }
}

/**
 * The event on one line, or undefined for a line that is not one (a drop count, a line torn by a
 * crash mid-write). A shallow check: the log is Barge's own output, but a reader must not trust a torn line.
 */
export function parseTrackingLine(line: string): TrackingRecord | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as { event?: unknown; time?: unknown };
  return typeof r.time === 'string' && typeof r.event === 'string' && EVENTS.has(r.event) ? (v as TrackingRecord) : undefined;
}

/**
 * Every event under `dir`, oldest file first and in file order within each: the whole history in
 * memory, for tests and tools over small logs (the console reads through tracking-story.ts and
 * tracking-search.ts instead). A missing directory means nothing was tracked yet. Lines that are
 * not events are skipped. `since` skips the files of days before it (whole days only).
 */
export async function readTrackingLog(dir: string, since?: Date): Promise<TrackingRecord[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const records: TrackingRecord[] = [];
  // YYYYMMDD names sort lexically in date order.
  // With `since`, files of earlier days are not read at all.
  const first = since === undefined ? '' : trackingFileName(since);
  for (const name of names.filter((n) => FILE.test(n) && n >= first).sort()) {
    const text = await readFile(join(dir, name), 'utf8');
    for (const line of text.split('\n')) {
      const record = line.trim() === '' ? undefined : parseTrackingLine(line);
      if (record !== undefined) records.push(record);
    }
  }
  return records;
}
