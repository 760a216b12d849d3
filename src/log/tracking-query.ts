/**
 * Questions asked of the message tracking log (tracking.ts): which messages match a search, what
 * happened to one message in order, and how many events of each kind fell in each minute.
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

const has = (value: string, part: string | undefined): boolean => part === undefined || part === '' || value.toLowerCase().includes(part.toLowerCase());

/** Received messages matching every given field (substring, case-insensitive), newest first. */
export function searchMessages(records: readonly TrackingRecord[], q: TrackingSearch, limit = 200): MessageSummary[] {
  const outcomes = new Map<string, Map<string, string>>();
  for (const r of records) {
    if (r.event === 'delivered' || r.event === 'deferred' || r.event === 'bounced') {
      const m = outcomes.get(r.id) ?? new Map<string, string>();
      m.set(r.rcpt, r.event);
      outcomes.set(r.id, m);
    }
  }
  const out: MessageSummary[] = [];
  for (let i = records.length - 1; i >= 0 && out.length < limit; i--) {
    const r = records[i];
    if (r?.event !== 'received') continue;
    const t = Date.parse(r.time);
    if (q.since !== undefined && t < q.since.getTime()) continue;
    if (q.until !== undefined && t > q.until.getTime()) continue;
    if (!has(r.id, q.id) || !has(r.messageId ?? '', q.messageId) || !has(r.from, q.sender) || !(q.recipient === undefined || q.recipient === '' || r.rcpts.some((x) => has(x, q.recipient)))) continue;
    out.push({ received: r, outcomes: outcomes.get(r.id) ?? new Map() });
  }
  return out;
}

/** Every event about one message, in the order they happened. */
export function messageStory(records: readonly TrackingRecord[], id: string): TrackingRecord[] {
  return records.filter((r) => 'id' in r && r.id === id);
}

export type MinuteCounts = Record<'received' | 'delivered' | 'deferred' | 'bounced', number[]>;

/** Events per minute for the `minutes` minutes up to `now` (oldest first). */
export function perMinute(records: readonly TrackingRecord[], now: Date, minutes = 60): MinuteCounts {
  const counts: MinuteCounts = { received: [], delivered: [], deferred: [], bounced: [] };
  for (const k of Object.keys(counts) as Array<keyof MinuteCounts>) counts[k] = new Array<number>(minutes).fill(0);
  const start = now.getTime() - minutes * 60_000;
  for (const r of records) {
    if (r.event !== 'received' && r.event !== 'delivered' && r.event !== 'deferred' && r.event !== 'bounced') continue;
    const slot = Math.floor((Date.parse(r.time) - start) / 60_000);
    const row = counts[r.event];
    if (slot >= 0 && slot < minutes) row[slot] = (row[slot] ?? 0) + 1;
  }
  return counts;
}
