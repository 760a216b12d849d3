/**
 * What a tracking search asks and answers: the fields a received message must match (substrings,
 * any case), and a found message with each recipient's latest outcome.
 */
import type { TrackingRecord } from './tracking.js';

export interface TrackingSearch {
  readonly id?: string;
  readonly messageId?: string;
  readonly sender?: string;
  readonly recipient?: string;
  readonly since?: Date;
  readonly until?: Date;
}

export type Received = Extract<TrackingRecord, { event: 'received' }>;

export interface MessageSummary {
  readonly received: Received;
  /** The latest outcome per recipient: delivered, deferred, bounced or (none yet) queued. */
  readonly outcomes: ReadonlyMap<string, string>;
}

const has = (value: string, part: string | undefined): boolean =>
  part === undefined || part === '' || value.toLowerCase().includes(part.toLowerCase());

/** Whether a received message matches every given field of the search (time included). */
export function matchesSearch(r: Received, q: TrackingSearch): boolean {
  const t = Date.parse(r.time);
  if (q.since !== undefined && t < q.since.getTime()) return false;
  if (q.until !== undefined && t > q.until.getTime()) return false;
  if (!has(r.id, q.id) || !has(r.messageId ?? '', q.messageId) || !has(r.from, q.sender)) return false;
  return q.recipient === undefined || q.recipient === '' || r.rcpts.some((x) => has(x, q.recipient));
}

/** Each recipient's latest outcome among a message's events (in the order they happened). */
export function latestOutcomes(records: readonly TrackingRecord[]): Map<string, string> {
  const outcomes = new Map<string, string>();
  for (const r of records) if (r.event === 'delivered' || r.event === 'deferred' || r.event === 'bounced') outcomes.set(r.rcpt, r.event);
  return outcomes;
}
