/**
 * The console's tracking search: received messages matching a search, newest first, at most a page,
 * each with its recipients' latest outcomes.
 *
 * Contract: days are read newest first, each file from its end backwards, and reading stops once the
 * page is full, once it passes the search's start, or when the request's budget is spent (then
 * `searchedBackTo` says how far back it got). Reading backwards, a message's outcomes come before its
 * receipt: they wait in a map, and a message's are dropped once the reading passes its arrival (its
 * queue id's time), so memory holds only the messages in flight over the stretch read, not the
 * stretch. A search by Message-ID reads the day indexes instead (tracking-index.ts, a fraction of the
 * bytes) and each message found with its story, as does a whole queue id; an end time starts the
 * reading there, and the messages found then get their outcomes from their stories.
 */
import { arrivalTime } from '../queue/ids.js';
import { linesBackward, openLog, type ReadBudget } from './line-reader.js';
import { indexField, receivedHits, type IndexedEvent } from './tracking-index.js';
import { latestOutcomes, matchesSearch, type MessageSummary, type Received, type TrackingSearch } from './tracking-query.js';
import { dayFile, dayKey, lineField, lineString, lineTime, seekTime, trackingDays } from './tracking-lines.js';
import { readStory } from './tracking-story.js';
import { parseTrackingLine } from './tracking.js';

export interface SearchPage {
  readonly messages: MessageSummary[];
  /** Set when the budget ran out first: the time (ISO) the search had gone back to. */
  readonly searchedBackTo?: string;
}

const OUTCOMES: ReadonlySet<string> = new Set(['delivered', 'deferred', 'bounced']);
/** Outcomes kept at most for ids that do not say when they arrived (not Barge's queue ids). */
const UNDATED_CAP = 10_000;

/** Outcomes read before their message's receipt, by queue id; the newest per recipient wins. */
class PendingOutcomes {
  readonly #byId = new Map<string, Map<string, string>>();

  note(id: string, rcpt: string, event: string): void {
    let m = this.#byId.get(id);
    if (m === undefined) this.#byId.set(id, (m = new Map()));
    if (!m.has(rcpt)) m.set(rcpt, event);
  }

  /** The outcomes of a message whose receipt was reached, keyed by its recipients. */
  take(r: Received): Map<string, string> {
    const m = this.#byId.get(r.id);
    this.#byId.delete(r.id);
    return new Map(r.rcpts.flatMap((x) => {
      const outcome = m?.get(indexField(x));
      return outcome === undefined ? [] : [[x, outcome] as const];
    }));
  }

  forget(id: string): void {
    this.#byId.delete(id);
  }

  /** The reading has gone back past `ms`: a message that arrived later has had its receipt read. */
  passed(ms: number): void {
    for (const id of this.#byId.keys()) {
      const arrival = arrivalTime(id);
      if (arrival === undefined ? this.#byId.size > UNDATED_CAP : arrival > ms) this.#byId.delete(id);
    }
  }
}

interface Scan {
  readonly q: TrackingSearch;
  readonly limit: number;
  readonly budget: ReadBudget;
  readonly found: MessageSummary[];
  readonly pending: PendingOutcomes;
  reached?: string;
}

const isoOf = (ms: number): string => new Date(ms).toISOString();
const escaped = (text: string): RegExp => new RegExp(JSON.stringify(text).slice(1, -1).replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i');

export async function searchTracking(dir: string, q: TrackingSearch, options: { limit: number; budget: ReadBudget }): Promise<SearchPage> {
  const { limit, budget } = options;
  const id = q.id ?? '';
  if (arrivalTime(id) !== undefined) {
    const summary = await summaryOf(dir, id, budget);
    const messages = summary !== undefined && matchesSearch(summary.received, q) ? [summary] : [];
    return budget.exhausted ? { messages, searchedBackTo: new Date(arrivalTime(id) ?? 0).toISOString() } : { messages };
  }
  const first = q.since === undefined ? '' : dayKey(q.since.getTime());
  const last = q.until === undefined ? '99999999' : dayKey(q.until.getTime());
  const days = (await trackingDays(dir)).filter((d) => d >= first && d <= last).reverse();
  const scan: Scan = { q, limit, budget, found: [], pending: new PendingOutcomes() };
  for (const day of days) {
    const hits = q.messageId === undefined || q.messageId === '' ? undefined : await receivedHits(dir, day, q.messageId, limit, budget);
    const more = hits === undefined ? await scanDay(dir, day, scan) : await scanIndex(dir, day, scan, hits);
    if (!more || budget.exhausted) break;
  }
  // Reading began at the end time: outcomes recorded after it are in the messages' stories.
  if (q.until !== undefined && !budget.exhausted) {
    for (const [i, m] of scan.found.entries()) scan.found[i] = (await summaryOf(dir, m.received.id, budget)) ?? m;
  }
  return budget.exhausted && scan.reached !== undefined ? { messages: scan.found, searchedBackTo: scan.reached } : { messages: scan.found };
}

/** One day file, backwards; false once the page is full or the start time is passed. */
async function scanDay(dir: string, day: string, scan: Scan): Promise<boolean> {
  const { q, budget } = scan;
  const handle = await openLog(dayFile(dir, day));
  if (handle === undefined) return true;
  const since = q.since === undefined ? undefined : isoOf(q.since.getTime());
  // Most lines fail the search: a cheap test on the raw line comes before parsing.
  const tests = [q.id, q.messageId, q.sender, q.recipient].flatMap((v) => (v === undefined || v === '' ? [] : [escaped(v)]));
  try {
    const end = q.until === undefined || dayKey(q.until.getTime()) !== day ? undefined : await seekTime(handle, isoOf(q.until.getTime() + 1), budget);
    for await (const { lines } of linesBackward(handle, { budget, ...(end === undefined ? {} : { end }) })) {
      for (const line of lines) {
        const time = lineTime(line);
        if (time === undefined) continue;
        if (since !== undefined && time < since) return false;
        const event = lineField(line, 'event');
        const id = lineField(line, 'id');
        if (event === undefined || id === undefined) continue;
        if (OUTCOMES.has(event)) scan.pending.note(id, indexField(lineString(line, 'rcpt') ?? ''), event);
        if (event !== 'received') continue;
        const r = tests.every((t) => t.test(line)) ? parseTrackingLine(line) : undefined;
        if (r?.event !== 'received' || !matchesSearch(r, q)) {
          scan.pending.forget(id);
          continue;
        }
        scan.found.push({ received: r, outcomes: scan.pending.take(r) });
        if (scan.found.length >= scan.limit) return false;
      }
      scan.reached = lineTime(lines.at(-1) ?? '') ?? scan.reached;
      if (scan.reached !== undefined) scan.pending.passed(Date.parse(scan.reached));
    }
  } finally {
    await handle.close();
  }
  return true;
}

/** One day's indexes for a search by Message-ID: each receipt found is read with its story. */
async function scanIndex(dir: string, day: string, scan: Scan, hits: readonly IndexedEvent[]): Promise<boolean> {
  const { q, budget } = scan;
  for (const hit of hits) {
    if (q.since !== undefined && hit.time < q.since.getTime()) return false;
    if (q.until !== undefined && hit.time > q.until.getTime()) continue;
    const summary = await summaryOf(dir, hit.id, budget);
    scan.reached = new Date(hit.time).toISOString();
    if (budget.exhausted) return false;
    if (summary === undefined || !matchesSearch(summary.received, q)) continue;
    scan.found.push(summary);
    if (scan.found.length >= scan.limit) return false;
  }
  scan.reached = `${day.slice(0, 4)}-${day.slice(4, 6)}-${day.slice(6)}T00:00:00.000Z`;
  return true;
}

/** A message's receipt and outcomes, from its story. */
async function summaryOf(dir: string, id: string, budget: ReadBudget): Promise<MessageSummary | undefined> {
  const story = await readStory(dir, id, budget);
  const received = story.records.find((r): r is Received => r.event === 'received');
  return received === undefined ? undefined : { received, outcomes: latestOutcomes(story.records) };
}
