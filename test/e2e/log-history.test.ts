/**
 * The console over a month of history: 30 days of tracking log (about 1 GB, with its index) and a
 * 1 GB W3C day file, written in seconds (see test/support/big-history.ts), under a `barge serve`
 * child at default settings. A message's story from the middle of the history, tracking searches
 * and the protocol log each answer in under a second, the server's resident set grows by less than
 * 50 MiB while it computes them (its peak, read from /proc after resetting it), and another SMTP
 * session's NOOPs keep answering within 100 ms meanwhile. The numbers are printed, with the server's
 * longest event-loop delay over each page (from /metrics).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { changeUser } from '../../src/auth/user-changes.js';
import { ConsoleClient } from '../support/admin.js';
import { eventually } from '../support/barge.js';
import { writeTrackingHistory, writeW3cDay, type BigHistory } from '../support/big-history.js';
import { exited, spawnBarge, type ChildBarge } from '../support/crash.js';
import { RawSmtp } from '../support/raw-client.js';

const MiB = 1024 * 1024;
const DAY = 86_400_000;
// A memory-backed folder when there is one: 2 GB are written in seconds, whatever else the disk is doing.
const ROOT = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();

let dir: string;
let barge: ChildBarge;
let client: ConsoleClient;
let consoleUrl: string;
let history: BigHistory;
const numbers: string[] = [];

/** The child's resident set (VmRSS) and its peak since the last reset (VmHWM), in KiB. */
async function memory(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (name: string): number => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? Number.NaN);
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

/** NOOPs on their own session, one after another, until `done`: the slowest round trip. */
async function noops(port: number, done: () => boolean): Promise<{ count: number; slowest: number }> {
  let count = 0;
  let slowest = 0;
  while (!done()) {
    const c = await RawSmtp.connect(port);
    await c.reply();
    // Fewer NOOPs on one session than the junk-command limit (100) that would end it.
    for (let i = 0; i < 90 && !done(); i++) {
      const t = performance.now();
      assert.equal((await c.command('NOOP')).code, 250);
      slowest = Math.max(slowest, performance.now() - t);
      count++;
      await new Promise((r) => setTimeout(r, 2));
    }
    c.close();
  }
  return { count, slowest };
}

/** The server's longest event-loop delay since the previous scrape of /metrics (which starts a new one), in ms. */
async function loopLag(): Promise<number> {
  const text = await (await fetch(new URL('/metrics', consoleUrl))).text();
  return 1000 * Number(/^nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(text)?.[1] ?? Number.NaN);
}

interface Measured {
  readonly body: string;
  readonly ms: number;
  readonly slowest: number;
  readonly line: string;
}

/** Fetches `path` while NOOPs run: the time, the server's peak growth (asserted), the slowest NOOP and the loop's longest delay. */
async function measureOnce(path: string): Promise<Measured> {
  const pid = barge.child.pid ?? 0;
  await loopLag();
  // Resets the peak (VmHWM) to the current resident set: what follows is this page's growth.
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
  const before = await memory(pid);
  let finished = false;
  const smtp = noops(barge.port, () => finished);
  const t = performance.now();
  const page = await client.get(path);
  const ms = performance.now() - t;
  finished = true;
  const { count, slowest } = await smtp;
  const after = await memory(pid);
  const lag = await loopLag();
  const growth = (after.peak - before.rss) / 1024;
  assert.equal(page.status, 200, path);
  assert.ok(growth < 50, `${path}: the server grew by ${growth.toFixed(1)} MiB`);
  assert.ok(count > 0);
  const line = `${ms.toFixed(0)} ms, resident peak +${growth.toFixed(1)} MiB, slowest of ${count} NOOPs ${slowest.toFixed(1)} ms, event loop delay at most ${lag.toFixed(0)} ms`;
  return { body: page.body, ms, slowest, line };
}

/**
 * A page within the limits: under a second, NOOPs within 100 ms. The machine may be busy with other
 * tests, so the time is the best of up to three tries (memory is checked on every one).
 */
async function measure(path: string): Promise<string> {
  let m = await measureOnce(path);
  for (let tries = 1; tries < 3 && (m.ms >= 1000 || m.slowest >= 100); tries++) m = await measureOnce(path);
  numbers.push(`${path}: ${m.line}`);
  assert.ok(m.ms < 1000, `${path} took ${m.ms.toFixed(0)} ms`);
  assert.ok(m.slowest < 100, `${path}: a NOOP took ${m.slowest.toFixed(1)} ms`);
  return m.body;
}

before(async () => {
  dir = await mkdtemp(join(ROOT, 'barge-history-'));
  const now = Date.now();
  const t = performance.now();
  history = writeTrackingHistory(join(dir, 'log', 'tracking'), now, 30, 34 * MiB);
  writeW3cDay(join(dir, 'log', 'SMTPSVC1'), now, 1024 * MiB);
  const written = `${(history.trackingBytes / MiB).toFixed(0)} MiB of tracking log, ${(history.indexBytes / MiB).toFixed(0)} MiB of index, 1024 MiB of W3C log`;
  numbers.push(`written: ${written} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  await changeUser(dir, { action: 'add', name: 'root', password: 'a long console password', admin: true });
  barge = await spawnBarge(dir, ['--admin-listen', '127.0.0.1:0']);
  const url = await eventually(async () => /console and \/metrics at (\S+)/.exec(barge.log())?.[1], 10_000, 'the console');
  consoleUrl = url;
  client = new ConsoleClient(url);
  assert.equal((await client.post('/login', { user: 'root', password: 'a long console password' })).status, 303);
  // The console's code is loaded by a page that reads no log.
  assert.equal((await client.get('/users')).status, 200);
});

after(async () => {
  barge?.child.kill('SIGTERM');
  if (barge !== undefined) await exited(barge.child);
  await rm(dir, { recursive: true, force: true });
  console.log(numbers.map((n) => `# ${n}`).join('\n'));
});

const day = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

test('a story from the middle of the history, over two days, through the index', async () => {
  const page = await measure(`/tracking/${history.id}`);
  const arrival = parseInt(history.id.slice(0, 9), 36);
  assert.match(page, /Received on <b>smtp<\/b> from late\.example\.org \[198\.51\.100\.7\] by <b>BDAT<\/b> in <b>3 chunks<\/b>/);
  assert.equal(page.match(/class="pill[^"]*">deferred</g)?.length, 2);
  assert.match(page, /250 2\.0\.0 accepted at last/);
  assert.match(page, /Left the queue/);
  assert.ok(page.includes(`${day(arrival)} 23:50:00.000`) && page.includes(`${day(arrival + DAY)} 04:00:00.005`), 'both days');
  assert.doesNotMatch(page, /a page reads at most/);
});

test("tracking searches: by an hour's range and by Message-ID find it; a month unrefined stops at the bound and says so", async () => {
  const arrival = parseInt(history.id.slice(0, 9), 36);
  const link = `href="/tracking/${history.id}"`;
  const ranged = await measure(`/tracking?sender=late-sender&since=${day(arrival)}T23:00&until=${day(arrival)}T23:59`);
  assert.ok(ranged.includes(link));
  assert.match(ranged, /class="pill[^"]*">delivered</);
  const byMessageId = await measure(`/tracking?messageId=STORY-1%40example.org&since=${day(Date.now() - 30 * DAY)}T00:00`);
  assert.ok(byMessageId.includes(link));
  const month = await measure(`/tracking?sender=late-sender&since=${day(Date.now() - 30 * DAY)}T00:00`);
  assert.ok(!month.includes(link), 'fifteen days back is past the bound');
  assert.match(
    month,
    /Searched back to <span class="mono">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d<\/span>: a page reads at most 64 MiB of log\. Refine the search/,
  );
  const recent = await measure('/tracking');
  assert.equal(recent.match(/href="\/tracking\/[0-9A-Z]{19}"/g)?.length, 200, 'a page of the newest messages');
});

test('the protocol log over a 1 GB day file: the newest entries, and a search cut at the bound', async () => {
  const page = await measure('/log');
  assert.equal(page.match(/<tr><td class="mono /g)?.length, 500);
  assert.match(page, /<th>time<\/th><th>c-ip<\/th><th>cs-method<\/th><th>cs-uri-stem<\/th><th>sc-status<\/th>/);
  const found = await measure('/log?q=203.0.113.77');
  assert.match(found, /<td class="mono ">203\.0\.113\.77<\/td><td class="mono ">RCPT<\/td>/);
  assert.match(found, /Searched back to <span class="mono">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d<\/span>/);
  await measure('/');
});
