/**
 * Queue operations: list, read and change entries of a running or stopped server's spool. They are
 * the only code that changes queue entries outside the runner; `barge queue` and the web console
 * both call them. Retry and flush make entries due now.
 */
import type { SpoolEnvelope, Spool } from './spool.js';
import type { ControlRequest } from './control.js';
import { initialState, type EntryState } from './runner.js';
import { sendNotices, type BounceDeps } from './bounces.js';
import { domainOf } from '../protocol/command.js';
import type { TrackingEvent } from '../log/tracking.js';

export type EntryKind = 'queued' | 'deferred' | 'held';
export interface QueueEntry {
  readonly id: string;
  readonly envelope: SpoolEnvelope;
  readonly state: EntryState;
  readonly kind: EntryKind;
}
export interface QueueFilter {
  /** Recipient domain (exact, lower case). */
  readonly domain?: string;
  readonly kind?: EntryKind;
  /** Only entries older than this many milliseconds. */
  readonly olderThanMs?: number;
}

/** A queue id's form (queue/ids.ts). */
export const QUEUE_ID = /^[A-Z0-9]+$/;

/** Arrival time from the id (queue/ids.ts: base-36 milliseconds first). */
export function arrivalOf(id: string): number {
  return parseInt(id.slice(0, 9), 36);
}

export function kindOf(state: EntryState): EntryKind {
  if (state.held === true) return 'held';
  return state.rcpts.some((r) => r.status === 'pending' && r.attempts > 0) ? 'deferred' : 'queued';
}

export async function loadEntry(spool: Spool, id: string): Promise<QueueEntry | undefined> {
  if (!QUEUE_ID.test(id)) return undefined;
  try {
    const envelope = await spool.readEnvelope(id);
    const state = (await spool.readState<EntryState>(id)) ?? initialState(envelope);
    return { id, envelope, state, kind: kindOf(state) };
  } catch {
    return undefined;
  }
}

/** Entries examined at most per page, so a filter that matches little still answers in seconds. */
export const SCAN_LIMIT = 10_000;

/**
 * One page of entries, oldest first, after the entry `after` (a cursor: the queue changes between
 * pages). Ids sort by arrival, so the age filter costs nothing; other filters read envelopes, at most
 * `SCAN_LIMIT` a page. `next` is the cursor of the following page, when there is one.
 */
export async function listEntries(
  spool: Spool,
  filter: QueueFilter,
  after: string | undefined,
  limit: number,
  now: Date,
): Promise<{ entries: QueueEntry[]; next: string | undefined; total: number }> {
  const ids = await spool.list();
  const entries: QueueEntry[] = [];
  let i = after === undefined ? 0 : ids.findIndex((id) => id > after);
  if (i < 0) i = ids.length;
  for (let scanned = 0; i < ids.length && entries.length < limit && scanned < SCAN_LIMIT; i++, scanned++) {
    const id = ids[i] ?? '';
    if (filter.olderThanMs !== undefined && now.getTime() - arrivalOf(id) < filter.olderThanMs) {
      i = ids.length;
      break;
    }
    const entry = await loadEntry(spool, id);
    if (entry === undefined) continue;
    if (filter.kind !== undefined && entry.kind !== filter.kind) continue;
    if (filter.domain !== undefined && !entry.state.rcpts.some((r) => r.status === 'pending' && domainOf(r.address) === filter.domain))
      continue;
    entries.push(entry);
  }
  const last = ids[i - 1];
  return { entries, next: i < ids.length && last !== undefined ? last : undefined, total: ids.length };
}

/** Queue size by state; only entries tried (or held) before have a state record. */
export async function queueCounts(spool: Spool): Promise<Map<string, number>> {
  const counts = new Map<string, number>([
    ['queued', 0],
    ['deferred', 0],
    ['held', 0],
  ]);
  for (const id of await spool.list()) {
    const state = await spool.readState<EntryState>(id);
    const kind = state === undefined ? 'queued' : kindOf(state);
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  return counts;
}

/** Makes pending recipients due now (and releases a hold); returns how many entries changed. */
export async function retryEntries(spool: Spool, ids: readonly string[]): Promise<number> {
  let changed = 0;
  for (const id of ids) {
    const entry = await loadEntry(spool, id);
    if (entry === undefined) continue;
    for (const r of entry.state.rcpts) delete r.nextAttempt;
    await spool.writeState(id, entry.state);
    changed++;
  }
  return changed;
}

/** Holds an entry (the runner skips it) or releases it. */
export async function holdEntry(spool: Spool, id: string, held: boolean): Promise<boolean> {
  const entry = await loadEntry(spool, id);
  if (entry === undefined) return false;
  const state: EntryState = { ...entry.state, held };
  if (!held) delete state.held;
  await spool.writeState(id, state);
  return true;
}

export async function deleteEntry(spool: Spool, id: string): Promise<boolean> {
  if (!QUEUE_ID.test(id) || !(await spool.list()).includes(id)) return false;
  await spool.remove(id);
  return true;
}

/**
 * Gives up on every pending recipient now: the sender gets a failure DSN (made durable first, as the
 * runner does), the recipients are tracked as bounced and the entry leaves the queue.
 */
export async function bounceEntry(deps: BounceDeps & { track?: (e: TrackingEvent) => void }, id: string): Promise<boolean> {
  const entry = await loadEntry(deps.spool, id);
  if (entry === undefined) return false;
  const pending = entry.state.rcpts.filter((r) => r.status === 'pending');
  const byAddress = new Map(entry.envelope.transaction.rcpts.map((r) => [r.address, r]));
  const detail = 'bounced by the administrator';
  await sendNotices(
    deps,
    entry.envelope,
    pending.map((r) => ({
      recipient: byAddress.get(r.address) ?? { address: r.address, local: r.local },
      action: 'failed' as const,
      status: '5.0.0',
      detail,
    })),
  );
  await deps.spool.remove(id);
  for (const r of pending) deps.track?.({ event: 'bounced', id, rcpt: r.address, reason: detail });
  deps.track?.({ event: 'completed', id });
  return true;
}

/** Applies one change the way the command does on a stopped server; returns how many entries changed. */
export async function applyRequest(deps: BounceDeps & { track?: (e: TrackingEvent) => void }, r: ControlRequest): Promise<number> {
  const { spool } = deps;
  const id = r.id ?? '';
  if (r.op === 'flush' || r.op === 'retry') return retryEntries(spool, r.op === 'flush' ? await spool.list() : [id]);
  if (r.op === 'hold' || r.op === 'release') return Number(await holdEntry(spool, id, r.op === 'hold'));
  return Number(r.op === 'delete' ? await deleteEntry(spool, id) : await bounceEntry(deps, id));
}
