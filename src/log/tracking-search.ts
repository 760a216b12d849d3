/**
 * The console's tracking search: received messages matching a search, newest first, at most a page,
 * each with its recipients' latest outcomes.
 *
 * Contract: days are read newest first, each file from its end backwards, and reading stops once the
 * page is full, once it passes the search's start, or when the request's budget is spent (then
 * `searchedBackTo` says how far back it got); tracking-scan.ts reads a day file's raw bytes and keeps
 * the outcomes met before their receipt. A search by Message-ID reads the days' Message-ID indexes
 * instead (tracking-message-ids.ts, a tenth of the bytes) and each message found with its story, as
 * does a whole queue id; an end time starts the reading there, and the messages found then get
 * their outcomes from their stories (later ones are not in the stretch read).
 */
import { arrivalTime } from '../message/queue-id.js';
import { openLog, type ReadBudget } from './line-reader.js';
import { messageIdHits, type MessageIdHits } from './tracking-message-ids.js';
import { latestOutcomes, matchesSearch, type MessageSummary, type Received, type TrackingSearch } from './tracking-query.js';
import { dayFile, dayKey, dayStart, seekTime, trackingDays } from './tracking-lines.js';
import { PendingOutcomes, scanBackward } from './tracking-scan.js';
import { readStory } from './tracking-story.js';

export interface SearchPage {
  readonly messages: MessageSummary[];
  /** Set when the budget ran out first: the time (ISO) the search had gone back to. */
  readonly searchedBackTo?: string;
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
    const byId = q.messageId === undefined || q.messageId === '' ? undefined : await messageIdHits(dir, day, q.messageId, limit, budget);
    let more = byId === undefined ? await scanDay(dir, day, scan) : await scanIndex(dir, scan, byId);
    // The index began that day (an upgrade): the receipts before it are only in the day file.
    if (more && byId !== undefined && (byId.coveredFrom ?? Number.POSITIVE_INFINITY) > dayStart(day))
      more = await scanDay(dir, day, scan, byId.coveredFrom);
    if (!more || budget.exhausted) break;
  }
  // Reading began at the end time: outcomes recorded after it are in the messages' stories.
  if (q.until !== undefined && !budget.exhausted) {
    for (const [i, m] of scan.found.entries()) scan.found[i] = (await summaryOf(dir, m.received.id, budget)) ?? m;
  }
  return budget.exhausted && scan.reached !== undefined ? { messages: scan.found, searchedBackTo: scan.reached } : { messages: scan.found };
}

/** One day file, backwards (from `before`, ms, if given); false once the page is full or the start time is passed. */
async function scanDay(dir: string, day: string, scan: Scan, before?: number): Promise<boolean> {
  const { q, budget } = scan;
  const handle = await openLog(dayFile(dir, day));
  if (handle === undefined) return true;
  try {
    const until = q.until === undefined || dayKey(q.until.getTime()) !== day ? undefined : q.until.getTime() + 1;
    const stop = before === undefined ? until : Math.min(before, until ?? before);
    const end = stop === undefined ? undefined : await seekTime(handle, isoOf(stop), budget);
    const result = await scanBackward(handle, {
      budget,
      ...(end === undefined ? {} : { end }),
      ...(q.since === undefined ? {} : { since: isoOf(q.since.getTime()) }),
      criteria: [q.id, q.messageId, q.sender, q.recipient].flatMap((v) => (v === undefined || v === '' ? [] : [v])),
      pending: scan.pending,
      receipt: (r) => {
        if (!matchesSearch(r, q)) return false;
        scan.found.push({ received: r, outcomes: scan.pending.take(r) });
        return scan.found.length >= scan.limit;
      },
    });
    scan.reached = result.reached ?? scan.reached;
    return !result.stopped;
  } finally {
    await handle.close();
  }
}

/** The receipts a day's Message-ID index found: each is read with its story. */
async function scanIndex(dir: string, scan: Scan, { hits, reached }: MessageIdHits): Promise<boolean> {
  const { q, budget } = scan;
  if (reached !== undefined) scan.reached = isoOf(reached);
  for (const hit of hits) {
    if (q.since !== undefined && hit.time < q.since.getTime()) return false;
    if (q.until !== undefined && hit.time > q.until.getTime()) continue;
    const summary = await summaryOf(dir, hit.id, budget);
    if (budget.exhausted) return false;
    if (summary === undefined || !matchesSearch(summary.received, q)) continue;
    scan.found.push(summary);
    if (scan.found.length >= scan.limit) return false;
  }
  return true;
}

/** A message's receipt and outcomes, from its story. */
async function summaryOf(dir: string, id: string, budget: ReadBudget): Promise<MessageSummary | undefined> {
  const story = await readStory(dir, id, budget);
  const received = story.records.find((r): r is Received => r.event === 'received');
  return received === undefined ? undefined : { received, outcomes: latestOutcomes(story.records) };
}
