/**
 * `barge queue list | show ID | retry ID | flush | hold ID | release ID | bounce ID | delete ID`:
 * read and adjust the spool of a running or stopped server through the queue's operations
 * (queue/operations.ts, which the web console calls too). Reading works beside a running server (a
 * read-only open of the log); only the server writes the log, so with one running a change is a
 * request it applies (queue/control.ts).
 */
import { askServer, type ControlOp } from '../queue/control.js';
import type { Config } from '../config/types.js';
import { Spool } from '../queue/spool.js';
import { spoolHolder } from '../queue/spool-files.js';
import { makeIdSource } from '../message/queue-id.js';
import { realClock } from '../time/clock.js';
import {
  bounceEntry,
  deleteEntry,
  holdEntry,
  listEntries,
  loadEntry,
  QUEUE_ID as ID,
  retryEntries,
  type QueueEntry,
} from '../queue/operations.js';
import { dataPaths } from '../config/paths.js';

export interface ListPaging {
  /** Entries per page (`--limit`, default 100). */
  readonly limit?: string | undefined;
  /** The last id of the previous page (`--after`). */
  readonly after?: string | undefined;
}

const READING = new Set(['list', 'show']);
const CHANGES: ReadonlySet<string> = new Set<ControlOp>(['retry', 'flush', 'hold', 'release', 'bounce', 'delete']);

export async function runQueue(
  config: Config,
  args: readonly string[],
  out: (l: string) => void,
  err: (l: string) => void,
  paging: ListPaging = {},
): Promise<number> {
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

async function queueCommand(
  spool: Spool,
  config: Config,
  sub: string | undefined,
  id: string | undefined,
  out: (l: string) => void,
  err: (l: string) => void,
  paging: ListPaging,
): Promise<number> {
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
      const deps = {
        spool,
        nextId: makeIdSource(),
        hostname: config.hostname,
        localDomains: config.localDomains,
        clock: realClock,
        queued: () => undefined,
      };
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
  const next = pending
    .map((r) => r.nextAttempt)
    .filter((t) => t !== undefined)
    .sort()[0];
  const method = `${envelope.method}${envelope.method === 'BDAT' ? `/${envelope.chunks}` : ''}`;
  out(
    `${entry.id}  ${envelope.receivedAt}  ${envelope.size} bytes  <${envelope.transaction.from}>  ${method}${entry.kind === 'held' ? '  HELD' : ''}`,
  );
  for (const r of pending)
    out(`    ${r.address}  ${r.local ? 'local' : 'relay'}  attempts ${r.attempts}${r.lastResult === undefined ? '' : `  ${r.lastResult}`}`);
  if (next !== undefined) out(`    next attempt ${next}`);
}
