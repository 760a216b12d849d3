/**
 * Interleaved measurement. Client and servers share a small machine whose speed drifts (a
 * neighbour, the host), so a row that measured each server once, one after another, compared
 * moments as much as servers. Here every row is measured in rounds: each round measures every
 * server once, starting each round with the next server, after all of them are idle and the disks'
 * dirty pages are written back (so no server pays for another's writes). A cell is the
 * median of its rounds, and a ratio is the median of the per-round ratios, so each ratio compares
 * measurements taken seconds apart.
 */
import { execFile } from 'node:child_process';
import { open, readFile, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cpuSeconds, settle, type ServerUnderTest } from './servers.js';

/** sync(1): writes back every dirty page, so a measurement does not pay for the disk writes of the one before. */
const syncDisks = async (): Promise<void> => void (await promisify(execFile)('sync').catch(() => undefined));

/**
 * The host of a virtual machine may take back guest memory that stays free (virtio-balloon free page
 * reporting), and the first write into such a page then costs a fault in the host: writing 100 MB
 * into fresh page cache measured 0.15 to 0.3 s of system time after a minute idle, against 0.02 s
 * into pages freed a moment before. A server that writes (Barge, Exim, Postfix) pays it and one that
 * stores nothing (smtp-server) does not, by an amount set by how long the machine sat idle. So before
 * each measurement the bench writes and deletes a file this large, just before it starts (the host
 * is told of free memory 2 s after it is freed): its freed pages, still backed, are the first the
 * kernel hands out (reported pages go to the free lists' tail). Done before waiting for the servers
 * to settle instead, a 100 MB DATA took 0.48 to 0.66 s of CPU against 0.18 to 0.30 s.
 */
const BACKED_MEMORY = 320 * 2 ** 20;

export async function backFreeMemory(): Promise<void> {
  const path = join(tmpdir(), `barge-bench-backing-${process.pid}`);
  const file = await open(path, 'w', 0o600);
  try {
    const block = Buffer.alloc(2 ** 20, 1);
    for (let written = 0; written < BACKED_MEMORY; written += block.length) await file.write(block);
  } finally {
    await file.close();
  }
  await unlink(path);
}

/**
 * The machine's CPU time so far, in ticks: all of it, and the part stolen by the host (/proc/stat,
 * proc(5)). A row printed with a large steal share was measured while a neighbour took the cores.
 */
async function machineTicks(): Promise<{ readonly total: number; readonly steal: number }> {
  const fields = ((await readFile('/proc/stat', 'utf8').catch(() => '')).split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  return { total: fields.reduce((n, v) => n + v, 0), steal: fields[7] ?? 0 };
}

export type Cell = number | string;

export interface Row {
  readonly label: string;
  readonly unit: string;
  /** The median of the rounds (or why there is no number). */
  readonly cells: Map<string, Cell>;
  /** CPU seconds per 1,000 messages or per 100 MB, per server, over all rounds. */
  readonly cpu?: Map<string, number>;
  /** Each round's value, per server. */
  readonly rounds?: Map<string, number[]>;
}

/** One row of an interleaved measurement: `work(value)` is the messages (thousands) or octets (100 MB) a value stands for. */
export interface RowSpec {
  readonly label: string;
  readonly unit: string;
  readonly run: (s: ServerUnderTest) => Promise<Cell>;
  readonly work: (value: number) => number;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/**
 * Measures `specs` in `count` rounds. Within a round, a server runs every spec back to back (so two
 * rows of one server, such as BDAT and DATA, are compared at the same moment too). CPU is counted
 * until the server is idle again, so delivery that outlasts the load is included.
 */
export async function measureRounds(servers: readonly ServerUnderTest[], specs: readonly RowSpec[], count: number): Promise<Row[]> {
  const rows = specs.map((s): Row => ({ label: s.label, unit: s.unit, cells: new Map(), cpu: new Map(), rounds: new Map() }));
  const cpuSpent = new Map<string, number>();
  const workDone = new Map<string, number>();
  const pids = servers.map((s) => s.pid);
  /** Per row: ticks of the machine, and of them stolen, while its measurements ran. */
  const ticks = specs.map(() => ({ total: 0, steal: 0 }));
  for (let round = 0; round < count; round++) {
    const order = [...servers.slice(round % servers.length), ...servers.slice(0, round % servers.length)];
    for (const server of order) {
      for (const [i, spec] of specs.entries()) {
        const row = rows[i];
        if (row === undefined || typeof row.cells.get(server.name) === 'string') continue;
        await syncDisks();
        await settle(pids);
        await backFreeMemory();
        const cpu = (): Promise<number> => server.cpuSeconds?.() ?? cpuSeconds(server.pid);
        const key = `${i} ${server.name}`;
        try {
          const before = await cpu();
          const machineBefore = await machineTicks();
          const value = await spec.run(server);
          const machineAfter = await machineTicks();
          const spent = ticks[i];
          if (spent !== undefined) {
            spent.total += machineAfter.total - machineBefore.total;
            spent.steal += machineAfter.steal - machineBefore.steal;
          }
          if (typeof value === 'string') {
            row.cells.set(server.name, value);
            continue;
          }
          await settle([server.pid]);
          cpuSpent.set(key, (cpuSpent.get(key) ?? 0) + (await cpu()) - before);
          workDone.set(key, (workDone.get(key) ?? 0) + spec.work(value));
          row.rounds?.set(server.name, [...(row.rounds.get(server.name) ?? []), value]);
        } catch (e) {
          row.cells.set(server.name, `error: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
    }
  }
  for (const [i, row] of rows.entries()) {
    for (const [name, values] of row.rounds ?? []) {
      if (typeof row.cells.get(name) === 'string') continue;
      row.cells.set(name, median(values));
      row.cpu?.set(name, (cpuSpent.get(`${i} ${name}`) ?? 0) / (workDone.get(`${i} ${name}`) ?? Number.NaN));
    }
    const spent = ticks[i];
    const steal =
      spent === undefined || spent.total === 0
        ? ''
        : ` (host steal ${((100 * spent.steal) / spent.total).toFixed(1)} % of the machine's time)`;
    process.stderr.write(
      `  ${row.label}: ${[...row.cells].map(([n, v]) => `${n} ${typeof v === 'number' ? v.toFixed(1) : v}`).join(', ')}${steal}\n`,
    );
  }
  return rows;
}

/** Per-round ratios a/b where both rows have every round; else the one ratio of the medians. */
export function roundRatios(a: Row | undefined, aServer: string, b: Row | undefined, bServer: string): number[] {
  const as = a?.rounds?.get(aServer);
  const bs = b?.rounds?.get(bServer);
  if (as !== undefined && bs !== undefined && as.length === bs.length && as.length > 0) return as.map((v, i) => v / (bs[i] ?? Number.NaN));
  const cell = (r: Row | undefined, s: string): number => {
    const c = r?.cells.get(s);
    return typeof c === 'number' ? c : Number.NaN;
  };
  return [cell(a, aServer) / cell(b, bServer)];
}
