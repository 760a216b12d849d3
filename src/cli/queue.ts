/**
 * `barge queue list | show ID | retry ID | flush | hold ID | release ID | bounce ID | delete ID`:
 * read and adjust the spool of a running or stopped server. The exported functions are the only
 * code that changes queue entries outside the runner; the web console calls the same ones.
 * Retry and flush make entries due now. Reading works beside a running server (a read-only open of
 * the log); only the server writes the log, so with one running a change is a request it applies
 * (queue/control.ts).
 */
import { askServer, type ControlOp, type ControlRequest } from '../queue/control.js';
import type { Config } from '../config/types.js';
import { Spool, spoolHolder, type SpoolEnvelope } from '../queue/spool.js';
import { initialState, type EntryState } from '../queue/runner.js';
import { sendNotices, type BounceDeps } from '../queue/bounces.js';
import { domainOf } from '../protocol/command.js';
import type { TrackingEvent } from '../log/tracking.js';
import { makeIdSource } from '../queue/ids.js';
import { dataPaths } from '../server/run.js';

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

const ID = /^[A-Z0-9]+$/;

/** Arrival time from the id (queue/ids.ts: base-36 milliseconds first). */
export function arrivalOf(id: string): number {
  return parseInt(id.slice(0, 9), 36);
}

export function kindOf(state: EntryState): EntryKind {
  if (state.held === true) return 'held';
  return state.rcpts.some((r) => r.status === 'pending' && r.attempts > 0) ? 'deferred' : 'queued';
}

export async function loadEntry(spool: Spool, id: string): Promise<QueueEntry | undefined> {
  if (!ID.test(id)) return undefined;
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
export async function listEntries(spool: Spool, filter: QueueFilter, after: string | undefined, limit: number, now: Date): Promise<{ entries: QueueEntry[]; next: string | undefined; total: number }> {
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
    if (filter.domain !== undefined && !entry.state.rcpts.some((r) => r.status === 'pending' && domainOf(r.address) === filter.domain)) continue;
    entries.push(entry);
  }
  const last = ids[i - 1];
  return { entries, next: i < ids.length && last !== undefined ? last : undefined, total: ids.length };
}

/** Queue size by state; only entries tried (or held) before have a state record. */
export async function queueCounts(spool: Spool): Promise<Map<string, number>> {
  const counts = new Map<string, number>([['queued', 0], ['deferred', 0], ['held', 0]]);
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
  if (!ID.test(id) || !(await spool.list()).includes(id)) return false;
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
  await sendNotices(deps, entry.envelope, pending.map((r) => ({ recipient: byAddress.get(r.address) ?? { address: r.address, local: r.local }, action: 'failed' as const, status: '5.0.0', detail })));
  await deps.spool.remove(id);
  for (const r of pending) deps.track?.({ event: 'bounced', id, rcpt: r.address, reason: detail });
  deps.track?.({ event: 'completed', id });
  return true;
}

export interface ListPaging {
  /** Entries per page (`--limit`, default 100). */
  readonly limit?: string | undefined;
  /** The last id of the previous page (`--after`). */
  readonly after?: string | undefined;
}

const READING = new Set(['list', 'show']);
const CHANGES: ReadonlySet<string> = new Set<ControlOp>(['retry', 'flush', 'hold', 'release', 'bounce', 'delete']);

/** Applies one change the way the command does on a stopped server; returns how many entries changed. */
export async function applyRequest(deps: BounceDeps & { track?: (e: TrackingEvent) => void }, r: ControlRequest): Promise<number> {
  const { spool } = deps;
  const id = r.id ?? '';
  if (r.op === 'flush' || r.op === 'retry') return retryEntries(spool, r.op === 'flush' ? await spool.list() : [id]);
  if (r.op === 'hold' || r.op === 'release') return Number(await holdEntry(spool, id, r.op === 'hold'));
  return Number(r.op === 'delete' ? await deleteEntry(spool, id) : await bounceEntry(deps, id));
}

export async function runQueue(config: Config, args: readonly string[], out: (l: string) => void, err: (l: string) => void, paging: ListPaging = {}): Promise<number> {
  const [sub, id] = args;
  const root = dataPaths(config.dataDir).spool;
  const holder = READING.has(sub ?? '') ? undefined : await spoolHolder(root);
  if (holder !== undefined && sub !== undefined && CHANGES.has(sub) && (sub === 'flush' || (id !== undefined && ID.test(id)))) {
    const changed = await askServer(root, { op: sub as ControlOp, ...(id === undefined ? {} : { id }) }, 30_000);
    if (changed === undefined) {
      err(`barge: the server (pid ${holder}) did not answer within 30 s`);
      return 1;
    }
    out(`${changed} message(s) changed by the server (pid ${holder})`);
    return changed === 0 && sub !== 'flush' ? 1 : 0;
  }
  const spool = await Spool.open(root, { readOnly: READING.has(sub ?? '') || sub === undefined });
  try {
    return await queueCommand(spool, config, sub, id, out, err, paging);
  } finally {
    await spool.close();
  }
}

async function queueCommand(spool: Spool, config: Config, sub: string | undefined, id: string | undefined, out: (l: string) => void, err: (l: string) => void, paging: ListPaging): Promise<number> {
  const needId = (): boolean => {
    if (id !== undefined && ID.test(id)) return true;
    err(`usage: barge queue ${sub ?? ''} ID`);
    return false;
  };
  switch (sub) {
    case 'list': {
      const limit = Number(paging.limit ?? 100);
      if (!Number.isInteger(limit) || limit < 1 || (paging.after !== undefined && !ID.test(paging.after))) {
        err('usage: barge queue list [--limit N] [--after ID]');
        return 2;
      }
      const page = await listEntries(spool, {}, paging.after, limit, new Date());
      for (const entry of page.entries) printEntry(entry, out);
      out(`${page.total} message(s) in the queue${page.next === undefined ? '' : `; more with --after ${page.next}`}`);
      return 0;
    }
    case 'show': {
      if (!needId() || id === undefined) return 2;
      const entry = await loadEntry(spool, id);
      if (entry === undefined) {
        err(`barge: no queue entry ${id}`);
        return 1;
      }
      out(JSON.stringify({ envelope: entry.envelope, state: entry.state }, null, 2));
      return 0;
    }
    case 'flush':
    case 'retry': {
      const ids = sub === 'flush' ? await spool.list() : id === undefined ? [] : [id];
      if (ids.length === 0 && sub === 'retry') {
        err('usage: barge queue retry ID');
        return 2;
      }
      const changed = await retryEntries(spool, ids);
      out(`${changed} message(s) due now; the server retries them when it starts`);
      return sub === 'retry' && changed === 0 ? 1 : 0;
    }
    case 'hold':
    case 'release': {
      if (!needId() || id === undefined) return 2;
      if (!(await holdEntry(spool, id, sub === 'hold'))) {
        err(`barge: no queue entry ${id}`);
        return 1;
      }
      out(`${id} ${sub === 'hold' ? 'held' : 'released'}`);
      return 0;
    }
    case 'bounce':
    case 'delete': {
      if (!needId() || id === undefined) return 2;
      const deps = { spool, nextId: makeIdSource(), hostname: config.hostname, localDomains: config.localDomains, now: () => new Date(), queued: () => undefined };
      const done = sub === 'delete' ? await deleteEntry(spool, id) : await bounceEntry(deps, id);
      if (!done) {
        err(`barge: no queue entry ${id}`);
        return 1;
      }
      out(sub === 'delete' ? `${id} deleted (no notice sent to the sender)` : `${id} bounced (the sender gets a failure notice)`);
      return 0;
    }
    default:
      err('usage: barge queue list | show ID | retry ID | flush | hold ID | release ID | bounce ID | delete ID');
      return 2;
  }
}

function printEntry(entry: QueueEntry, out: (l: string) => void): void {
  const { envelope, state } = entry;
  const pending = state.rcpts.filter((r) => r.status === 'pending');
  const next = pending.map((r) => r.nextAttempt).filter((t) => t !== undefined).sort()[0];
  const method = `${envelope.method}${envelope.method === 'BDAT' ? `/${envelope.chunks}` : ''}`;
  out(`${entry.id}  ${envelope.receivedAt}  ${envelope.size} bytes  <${envelope.transaction.from}>  ${method}${entry.kind === 'held' ? '  HELD' : ''}`);
  for (const r of pending) out(`    ${r.address}  ${r.local ? 'local' : 'relay'}  attempts ${r.attempts}${r.lastResult === undefined ? '' : `  ${r.lastResult}`}`);
  if (next !== undefined) out(`    next attempt ${next}`);
}
