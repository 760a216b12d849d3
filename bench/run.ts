/**
 * `npm run bench`: Barge beside reference servers measured in the same run, printed as a table.
 * Barge spools every message durably (fsync before 250). "Barge" runs with --queue-only (like Exim's
 * queue_only), so its rows measure the spool; "Barge + Maildir" runs at default settings with a
 * local recipient, so its rows include delivery. `--before DIR` adds a built Barge tree (another
 * version) beside them, for before/after numbers in one run. `--quick` for a short smoke run.
 */
import { parseArgs } from 'node:util';
import { bulk, throughput, type Method } from './load-generator.js';
import { rssSampler, startBarge, startExim, startSmtpServer, type ServerUnderTest } from './servers.js';
import { backFreeMemory, measureRounds, median, roundRatios, type Cell, type Row, type RowSpec } from './rounds.js';
import { startPostfix } from './postfix.js';
import { relayBulk, relayRate, startRelay } from './relay.js';
import { unreadFlood } from './unread.js';
import { storeBench } from './store.js';
import { queueScale } from './queue-scale.js';
import { idleConnections, openFileLimit, startRoomyBarge } from './idle.js';

const { values } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, seconds: { type: 'string' }, before: { type: 'string' } },
});
/** Seconds of load per server per round of a rate row. */
const seconds = Number(values.seconds ?? (values.quick ? 1 : 3));
const largeSize = values.quick ? 20e6 : 100e6;
const RCPT = 'bench@remote.example';
/** Barge's host name in the bench is a local domain: mail to it is delivered to Maildir. */
const LOCAL = 'bench@bench.test';

function textMessage(size: number): Buffer {
  const line = Buffer.from(`${'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(2)}\r\n`);
  const head = Buffer.from('Subject: bench\r\nFrom: bench@bench.test\r\n\r\n');
  const out = Buffer.alloc(size);
  head.copy(out);
  for (let pos = head.length; pos < size; pos += line.length) line.copy(out, pos, 0, Math.min(line.length, size - pos));
  out[size - 2] = 0x0d;
  out[size - 1] = 0x0a;
  return out;
}

const small = textMessage(1024);
const large = textMessage(largeSize);
const rows: Row[] = [];
const servers: ServerUnderTest[] = [];
const notes: string[] = [];
/** Rounds per row (see rounds.ts); the rate rows run `seconds` per server per round. */
const ROUNDS = 3;

let postfix: ServerUnderTest | string = 'not started';
const noBdat = (s: ServerUnderTest, method: Method): boolean => method === 'BDAT' && s.name === 'smtp-server';

/** Receives nothing before the memory rows, so they measure the message path, not a queue grown by the rate rows. */
let emptyQueue: ServerUnderTest | undefined;
try {
  servers.push(await startBarge(), await startBarge([], 'Barge + Maildir', undefined, LOCAL));
  emptyQueue = await startBarge(undefined, 'Barge (empty queue)');
  if (values.before !== undefined)
    servers.push(await startBarge(undefined, 'before', values.before), await startBarge([], 'before + Maildir', values.before, LOCAL));
  servers.push(await startSmtpServer());
  const exim = await startExim();
  if (typeof exim === 'string') notes.push(`Exim: n/a (${exim})`);
  else servers.push(exim);
  postfix = await startPostfix();
  if (typeof postfix === 'string') notes.push(`Postfix: n/a (${postfix})`);
  else servers.push(postfix);
  process.stderr.write(`bench: ${seconds}s per throughput row, large message ${largeSize / 1e6} MB\n`);
  // Every server gets the same untimed second of load first, so no row measures a cold JIT or cache.
  for (const s of servers) await throughput(s.port, s.rcpt ?? RCPT, small, 'DATA', 20, 1).catch(() => 0);

  for (const connections of [1, 20]) {
    for (const method of ['DATA', 'BDAT'] as const) {
      const send = (s: ServerUnderTest): Promise<Cell> => throughput(s.port, s.rcpt ?? RCPT, small, method, connections, seconds);
      const run = (s: ServerUnderTest): Promise<Cell> => (noBdat(s, method) ? Promise.resolve('n/a (no BDAT)') : send(s));
      rows.push(
        ...(await measureRounds(
          servers,
          [{ label: `1 KB, ${connections} conn, ${method}`, unit: 'msg/s', run, work: (rate) => (rate * seconds) / 1000 }],
          ROUNDS,
        )),
      );
    }
  }
  const spoolOnly = (s: ServerUnderTest): boolean => s.rcpt === undefined;
  // Each round measures every server idle (measureRounds waits), so the large messages measure
  // receiving, not the backlog "Barge + Maildir" is still delivering; a server's DATA and BDAT
  // messages are sent back to back, so their ratio compares one moment.
  const largeRow = (method: Method): RowSpec => ({
    label: `${largeSize / 1e6} MB, ${method}${method === 'BDAT' ? ' (1 MB chunks)' : ''}`,
    unit: 'MB/s',
    run: (s: ServerUnderTest): Promise<Cell> =>
      noBdat(s, method) || !spoolOnly(s) ? Promise.resolve(spoolOnly(s) ? 'n/a (no BDAT)' : '-') : bulk(s.port, RCPT, large, method),
    work: () => largeSize / 100e6,
  });
  rows.push(...(await measureRounds(servers, [largeRow('DATA'), largeRow('BDAT')], ROUNDS)));
  const barge = servers[0];
  if (barge !== undefined) {
    // Queue-only: every message of the rate rows is still queued, and the queue's index is in memory.
    const rss = (await rssSampler(barge.pid).stop()) / 2 ** 20;
    rows.push({ label: 'Barge RSS after the rows above (all still queued)', unit: 'MiB', cells: new Map([['Barge', rss]]) });
  }
  const fresh = emptyQueue;
  if (fresh !== undefined) {
    // Flat: the same peak for a small and a large message (each sent by BDAT, then by DATA).
    for (const size of [values.quick ? 2e6 : 1e6, largeSize]) {
      const sampler = rssSampler(fresh.pid);
      const message = size === largeSize ? large : textMessage(size);
      await bulk(fresh.port, RCPT, message, 'BDAT');
      const bdatPeak = await sampler.stop();
      const sampler2 = rssSampler(fresh.pid);
      await bulk(fresh.port, RCPT, message, 'DATA');
      const dataPeak = await sampler2.stop();
      rows.push({
        label: `Barge peak RSS, ${size / 1e6} MB message (empty queue)`,
        unit: 'MiB',
        cells: new Map([['Barge', Math.max(bdatPeak, dataPeak) / 2 ** 20]]),
      });
    }
  }
} finally {
  await Promise.all([...servers, emptyQueue].map((s) => s?.stop()));
}

// Relay: Barge receives, spools and delivers to a sink on loopback. The sink for the rate rows is
// smtp-server (no BDAT, so Barge relays with DATA); for the large message it is a receiving Barge
// (queue-only), so BDAT and DATA can be compared.
const relayRows: Array<[string, string, number | string]> = [];
{
  const sink = await startSmtpServer();
  const relay = await startRelay(sink.port);
  try {
    for (const [label, size, count] of [
      ['1 KB', 1024, values.quick ? 300 : 2000],
      ['100 KB', 100 * 1024, values.quick ? 50 : 300],
    ] as const) {
      const rate = await relayRate(relay, textMessage(size), count, 20).catch((e: unknown) => String(e));
      relayRows.push([`relay ${label}, 20 conn (to smtp-server)`, 'msg/s', rate]);
      process.stderr.write(`  relay ${label}: ${typeof rate === 'number' ? rate.toFixed(0) : rate} msg/s\n`);
    }
  } finally {
    await relay.stop();
    await sink.stop();
  }
  const receiver = await startBarge();
  try {
    for (const mask of [7, 5]) {
      const relayer = await startRelay(receiver.port, mask);
      try {
        await backFreeMemory(); // as before every measurement in rounds.ts
        const r = await relayBulk(relayer, large);
        const how = mask === 7 ? 'BDAT' : 'DATA';
        relayRows.push(
          [`relay ${largeSize / 1e6} MB via ${how} (to Barge)`, 'MB/s', r.mbps],
          [`relay peak RSS, ${how}`, 'MB', r.rss / 1e6],
        );
        process.stderr.write(`  relay ${largeSize / 1e6} MB via ${how}: ${r.mbps.toFixed(1)} MB/s, RSS ${(r.rss / 1e6).toFixed(0)} MB\n`);
      } finally {
        await relayer.stop();
      }
    }
  } finally {
    await receiver.stop();
  }
}

// Clients that never read their replies: 20 connections each pipelining 20 MiB, at most 20 s, against
// a fresh Barge, while a normal client sends a message. NOOP and EHLO meet the junk command limit;
// RCPT past max_recipients (452) meets the reply flow control, the protocol log's, then the overshoot limit.
const floodRows: Array<[string, number, boolean, string]> = [];
const floods = [
  ['NOOP', { line: 'NOOP\r\n' }],
  ['EHLO', { line: 'EHLO flood.bench\r\n' }],
  ['RCPT', { prefix: 'EHLO flood.bench\r\nMAIL FROM:<flood@bench.test>\r\n', line: 'RCPT TO:<bench@remote.example>\r\n' }],
] as const;
for (const [verb, flood] of floods) {
  const server = await startBarge();
  try {
    const r = await unreadFlood(server, RCPT, flood, 20, 20 * 2 ** 20, values.quick ? 5 : 20);
    const note = `${(r.sent / 2 ** 20).toFixed(0)} MiB accepted from the clients${r.stoppedAtCeiling ? ', stopped at the 1 GiB safety ceiling' : ''}`;
    floodRows.push([verb, r.peakRss / 2 ** 20, r.delivered, note]);
    process.stderr.write(
      `  unread ${verb}: peak RSS ${(r.peakRss / 2 ** 20).toFixed(0)} MiB, ${note}, normal message ${r.delivered ? 'delivered' : 'NOT delivered'}\n`,
    );
  } finally {
    await server.stop();
  }
}

// Idle connections: each has had its greeting and EHLO, then says nothing; Barge's peak RSS meanwhile.
const IDLE = 2000;
let idleRss: number | string;
const fileLimit = await openFileLimit();
if (fileLimit < IDLE + 200) idleRss = `n/a (open-file limit ${fileLimit}; raise it with ulimit -n)`;
else {
  const server = await startRoomyBarge(IDLE);
  try {
    idleRss = (await idleConnections(server, IDLE)) / 2 ** 20;
  } catch (e) {
    idleRss = `error: ${e instanceof Error ? e.message : String(e)}`;
  } finally {
    await server.stop();
  }
}
process.stderr.write(`  ${IDLE} idle connections: peak RSS ${typeof idleRss === 'number' ? `${idleRss.toFixed(0)} MiB` : idleRss}\n`);

const names = servers.map((s) => s.name);
const fmt = (c: Cell | undefined): string => (c === undefined ? '-' : typeof c === 'number' ? c.toFixed(c < 100 ? 1 : 0) : c);
const header = ['measurement', 'unit', ...names];
const cpuRow = (r: Row): string[][] => {
  const cpu = r.cpu;
  if (cpu === undefined || cpu.size === 0) return [];
  return [[`  CPU per ${r.unit === 'msg/s' ? '1,000 msgs' : '100 MB'}`, 's', ...names.map((n) => cpu.get(n)?.toFixed(2) ?? '-')]];
};
const table = [header, ...rows.flatMap((r) => [[r.label, r.unit, ...names.map((n) => fmt(r.cells.get(n)))], ...cpuRow(r)])];
const widths = header.map((_, i) => Math.max(...table.map((r) => (r[i] ?? '').length)));
const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
console.log(line(header));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const r of table.slice(1)) console.log(line(r));

const row = (label: string): Row | undefined => rows.find((r) => r.label.startsWith(label));
const ratio = (a: [string, string], b: [string, string]): number[] => roundRatios(row(a[0]), a[1], row(b[0]), b[1]);
const big = `${largeSize / 1e6} MB`;
const targets: Array<[string, number[], number]> = [
  [
    '1 KB, 20 conn, durable spool: Barge / smtp-server (DATA)',
    ratio(['1 KB, 20 conn, DATA', 'Barge'], ['1 KB, 20 conn, DATA', 'smtp-server']),
    1.0,
  ],
  [
    '1 KB, 20 conn, with Maildir delivery: Barge + Maildir / smtp-server (DATA)',
    ratio(['1 KB, 20 conn, DATA', 'Barge + Maildir'], ['1 KB, 20 conn, DATA', 'smtp-server']),
    0.5,
  ],
  [`${big} by DATA: Barge / smtp-server`, ratio([`${big}, DATA`, 'Barge'], [`${big}, DATA`, 'smtp-server']), 1.0],
  [`${big} by BDAT / Barge's own DATA`, ratio([`${big}, BDAT`, 'Barge'], [`${big}, DATA`, 'Barge']), 1.3],
];
if (typeof postfix !== 'string')
  targets.push([
    '1 KB, 1 conn, durable: Barge / Postfix (DATA)',
    ratio(['1 KB, 1 conn, DATA', 'Barge'], ['1 KB, 1 conn, DATA', 'Postfix']),
    2,
  ]);
console.log('');
for (const [what, ratios, target] of targets) {
  const r = median(ratios);
  const spread = ratios.length > 1 ? `, rounds ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}` : '';
  console.log(`${r >= target ? 'PASS' : 'MISS'}  ${what}: ${r.toFixed(2)}x (target ${target}x${spread})`);
}
if (typeof postfix === 'string') console.log(`n/a   1 KB, 1 conn, durable: Barge / Postfix (target 2x): ${postfix}`);
const rss = rows.filter((r) => r.label.startsWith('Barge peak RSS')).map((r) => r.cells.get('Barge'));
const peak = Math.max(...rss.map((c) => (typeof c === 'number' ? c : Number.NaN)));
console.log(
  `${peak <= 64 ? 'PASS' : 'MISS'}  Barge peak RSS: ${rss.map(fmt).join(' MiB -> ')} MiB across message sizes (target <= 64 MiB, flat)`,
);
if (typeof idleRss === 'number')
  console.log(
    `${idleRss < 256 ? 'PASS' : 'MISS'}  ${IDLE} idle connections (after EHLO): Barge peak RSS ${idleRss.toFixed(0)} MiB (target < 256 MiB)`,
  );
else console.log(`${idleRss.startsWith('n/a') ? 'n/a ' : 'MISS'}  ${IDLE} idle connections: ${idleRss}`);
for (const [verb, peakMib, delivered, note] of floodRows) {
  // Every RCPT is answered and logged, so that row also measures the protocol log under a flood.
  const verdict = peakMib < 150 && delivered ? 'PASS' : 'MISS';
  const meanwhile = `a normal message ${delivered ? 'delivered' : 'NOT delivered'} meanwhile (${note})`;
  console.log(
    `${verdict}  unread replies, 20 conn x 20 MiB ${verb}: Barge peak RSS ${peakMib.toFixed(0)} MiB (target < 150 MiB), ${meanwhile}`,
  );
}
for (const n of notes) console.log(n);
console.log('');
const relayWidth = Math.max(...relayRows.map(([l]) => l.length));
console.log(`| ${'relay measurement'.padEnd(relayWidth)} | unit  | Barge |`);
console.log(`|${'-'.repeat(relayWidth + 2)}|-------|-------|`);
for (const [label, unit, v] of relayRows) console.log(`| ${label.padEnd(relayWidth)} | ${unit.padEnd(5)} | ${fmt(v)} |`);

// The store alone (no SMTP), 1 KB messages, 20 writers: the spool's API beside the bare segment log.
console.log('');
console.log('| store, 1 KB, 20 writers, store + retire | msg/s | CPU s / 1,000 msgs | flushes / msg |');
console.log('|---|---|---|---|');
for (const r of await storeBench(seconds)) {
  const flushes = Number.isNaN(r.flushesPerMessage) ? '-' : r.flushesPerMessage.toFixed(2);
  console.log(`| ${r.store} | ${r.msgsPerSecond.toFixed(0)} | ${r.cpuSecondsPer1000.toFixed(3)} | ${flushes} |`);
}

// A queue of deferred messages, built here: restart and listing through the spool, and the bare segment log.
const queued = values.quick ? 10_000 : 100_000;
console.log('');
console.log(`| ${queued} deferred messages | wall time | peak RSS | result |`);
console.log('|---|---|---|---|');
for (const [label, m] of await queueScale(queued))
  console.log(`| ${label} | ${m.seconds.toFixed(2)} s | ${m.rssMB.toFixed(0)} MB | ${m.detail} |`);
