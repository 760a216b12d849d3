/**
 * A queue of many deferred messages (100,000 by default), built by the bench itself through the
 * spool (envelope, message and a state record each), and in a bare segment log for comparison. Each
 * measurement runs in a fresh process, so its wall time and peak RSS are its own:
 * - restart: what a starting server does before it can run the queue (open the spool, which replays
 *   the log, then read every entry's envelope and state and index its due time);
 * - list: `barge queue list` (its first page of 100), and the first 100 entries of the bare log.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Spool } from '../src/queue/spool.js';
import { SegmentLog } from '../src/queue/store/segment-log.js';
import { DueIndex, dueTime } from '../src/queue/due-index.js';
import { makeIdSource } from '../src/message/queue-id.js';
import type { EntryState } from '../src/queue/runner.js';
import { rssSampler } from './servers.js';

const HERE = fileURLToPath(import.meta.url);
const BIN = join(HERE, '..', '..', '..', 'bin', 'barge.js');
const BODY = Buffer.alloc(1024, 0x61);
const transaction = {
  from: 'a@bench.test',
  body: '7BIT' as const,
  smtputf8: false,
  rcpts: [{ address: 'b@remote.example', local: false }],
};
const deferred = (): EntryState => ({
  rcpts: [
    {
      address: 'b@remote.example',
      local: false,
      status: 'pending',
      attempts: 1,
      lastResult: '451 4.3.0 try later',
      nextAttempt: new Date(Date.now() + 3_600_000).toISOString(),
    },
  ],
});

async function inParallel(count: number, width: number, each: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < count) await each(next++);
    }),
  );
}

async function buildSpool(root: string, count: number): Promise<void> {
  const spool = await Spool.open(root);
  const nextId = makeIdSource();
  await inParallel(count, 64, async () => {
    const writer = spool.begin(nextId());
    writer.write(BODY);
    const received = {
      receivedAt: new Date().toISOString(),
      listener: 'bench',
      clientIp: '127.0.0.1',
      helo: 'bench.test',
      protocol: 'ESMTP',
    };
    await spool.commit(writer, { id: writer.id, ...received, method: 'DATA', chunks: 0, size: BODY.length, transaction });
    await spool.writeState(writer.id, deferred());
  });
  // Releases the spool's lock for the measuring processes.
  await spool.close();
}

async function buildLog(dir: string, count: number): Promise<void> {
  const { log } = await SegmentLog.open(dir);
  const nextId = makeIdSource();
  await inParallel(count, 64, async () => {
    const id = nextId();
    const outcome = await log.append(id, JSON.stringify({ id, receivedAt: new Date().toISOString(), transaction, state: deferred() }), [
      BODY,
    ]);
    if (outcome.kind === 'failed') throw new Error(outcome.reason);
  });
  await log.close();
}

/** The child side: one measurement, printed as JSON. */
async function child(what: string, path: string): Promise<void> {
  const started = performance.now();
  let entries = 0;
  let due = 0;
  if (what === 'spool-restart') {
    const spool = await Spool.open(path);
    const ids = await spool.list();
    const index = new DueIndex();
    await inParallel(ids.length, 16, async (i) => {
      const id = ids[i] ?? '';
      await spool.readEnvelope(id);
      const state = await spool.readState<EntryState>(id);
      const at = state === undefined ? 0 : dueTime(state);
      if (at !== undefined) index.set(id, at);
    });
    entries = ids.length;
    due = index.takeDue(Date.now()).length;
  } else if (what === 'log-restart') {
    const { log } = await SegmentLog.open(path);
    const index = new DueIndex();
    for (const id of log.ids()) {
      const at = dueTime((JSON.parse(log.envelope(id) ?? '{}') as { state: EntryState }).state);
      if (at !== undefined) index.set(id, at);
    }
    entries = log.size;
    due = index.takeDue(Date.now()).length;
  } else if (what === 'log-page') {
    const { log } = await SegmentLog.open(path);
    for (const id of log.ids().slice(0, 100)) JSON.parse(log.envelope(id) ?? '{}');
    entries = log.size;
  }
  process.stdout.write(`${JSON.stringify({ ms: performance.now() - started, entries, due })}\n`);
}

interface Measured {
  readonly seconds: number;
  readonly rssMB: number;
  readonly detail: string;
}

async function measure(args: readonly string[]): Promise<Measured> {
  const started = performance.now();
  const c = spawn(args[0] ?? process.execPath, args.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  const sampler = rssSampler(c.pid ?? 0);
  let out = '';
  c.stdout.on('data', (d: Buffer) => void (out += d.toString()));
  await new Promise((r) => c.once('exit', r));
  const rss = await sampler.stop();
  return { seconds: (performance.now() - started) / 1000, rssMB: rss / 1e6, detail: out.trim().split('\n').slice(-1)[0] ?? '' };
}

export async function queueScale(count: number): Promise<Array<[string, Measured]>> {
  const dir = await mkdtemp(join(tmpdir(), 'barge-bench-queue-'));
  try {
    const t0 = performance.now();
    await buildSpool(join(dir, 'data', 'spool'), count);
    const spoolBuilt = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    await buildLog(join(dir, 'segments'), count);
    const logBuilt = (performance.now() - t1) / 1000;
    process.stderr.write(`  built ${count} deferred entries: spool ${spoolBuilt.toFixed(1)} s, segment log ${logBuilt.toFixed(1)} s\n`);
    const node = process.execPath;
    const rows: Array<[string, Measured]> = [
      [
        'spool: restart (replay + every envelope and state + due index)',
        await measure([node, HERE, 'spool-restart', join(dir, 'data', 'spool')]),
      ],
      ['barge queue list (first page of 100)', await measure([node, BIN, 'queue', 'list', '--data-dir', join(dir, 'data')])],
      ['bare segment log: restart (replay + due index)', await measure([node, HERE, 'log-restart', join(dir, 'segments')])],
      ['bare segment log: first 100 entries', await measure([node, HERE, 'log-page', join(dir, 'segments')])],
    ];
    await promisify(execFile)('sync');
    return rows;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const [mode, path] = process.argv.slice(2);
if (process.argv[1] === HERE && mode !== undefined && path !== undefined) await child(mode, path);
else if (process.argv[1] === HERE) {
  for (const [label, m] of await queueScale(Number(mode ?? 100_000))) {
    console.log(
      `| ${label} | ${m.seconds.toFixed(2)} s | ${m.rssMB.toFixed(0)} MB | ${m.detail.length > 80 ? `${m.detail.slice(0, 80)}...` : m.detail} |`,
    );
  }
}
