import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReadBudget } from './line-reader.js';
import { DayTally, perMinute } from './tracking-tally.js';
import { TrackingLog, type TrackingEvent } from './tracking.js';
import { clockAt } from '../../test/support/virtual-clock.js';

const received = (id: string, method: 'BDAT' | 'DATA'): TrackingEvent => ({
  event: 'received',
  id,
  listener: 'smtp',
  clientIp: '192.0.2.1',
  helo: 'h.example',
  from: 'a@example.org',
  rcpts: ['b@example.net'],
  size: 10,
  body: '7BIT',
  smtputf8: false,
  method,
  chunks: method === 'BDAT' ? 1 : 0,
});

async function withLog(fn: (dir: string, log: TrackingLog, at: (iso: string) => void) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'barge-tally-'));
  let t = 0;
  const log = new TrackingLog({ dir, clock: clockAt(() => new Date(t)) });
  try {
    await fn(dir, log, (iso) => (t = Date.parse(iso)));
  } finally {
    await log.close();
    await rm(dir, { recursive: true, force: true });
  }
}

test('per minute over the last hour, across midnight, from the end of the day files', async () => {
  await withLog(async (dir, log, at) => {
    at('2024-03-05T12:00:00Z');
    for (let i = 0; i < 3000; i++) log.record(received(`old${i}`, 'DATA'));
    at('2024-03-05T23:30:10Z');
    log.record(received('a', 'BDAT'));
    log.record({ event: 'deferred', id: 'a', rcpt: 'b@example.net', reason: '451' });
    at('2024-03-06T00:10:30Z');
    log.record({ event: 'delivered', id: 'a', rcpt: 'b@example.net', via: 'smtp', detail: '250' });
    log.record(received('c', 'DATA'));
    log.record({ event: 'bounced', id: 'c', rcpt: 'b@example.net', reason: '550' });
    await log.flush();
    const budget = new ReadBudget();
    const counts = await perMinute(dir, new Date('2024-03-06T00:20:00Z'), budget);
    // Slot 0 is the minute from 23:20; 23:30:10 is in slot 10, 00:10:30 in slot 50.
    const at10 = (row: number[]): number[] => row.flatMap((n, i) => (n === 0 ? [] : [i, n]));
    assert.deepEqual(at10(counts.received), [10, 1, 50, 1]);
    assert.deepEqual(at10(counts.deferred), [10, 1]);
    assert.deepEqual(at10(counts.delivered), [50, 1]);
    assert.deepEqual(at10(counts.bounced), [50, 1]);
    // The noon traffic is not read: reading stopped at the hour's start.
    assert.ok(budget.used < 300 * 1024, String(budget.used));
  });
});

test("today's totals count on from where the last view stopped, and say so when the budget cut them short", async () => {
  await withLog(async (dir, log, at) => {
    at('2024-03-05T09:00:00Z');
    for (let i = 0; i < 2000; i++) {
      log.record(received(`m${i}`, i % 4 === 0 ? 'DATA' : 'BDAT'));
      log.record({
        event: 'delivered',
        id: `m${i}`,
        rcpt: 'b@example.net',
        via: 'smtp',
        detail: '250',
        method: i % 2 === 0 ? 'DATA' : 'BDAT',
        ...(i % 10 === 0 ? { fallback: 'bdat-failed' } : {}),
      });
    }
    log.record({ event: 'quirk', destination: 'mx.example.net:25', kind: 'no-bdat', reason: 'timeout', until: '2024-03-06T09:00:00Z' });
    log.record({ event: 'delivered', id: 'local', rcpt: 'x@localhost', via: 'maildir', detail: 'new/1' });
    await log.flush();
    const tally = new DayTally(dir);
    const now = new Date('2024-03-05T10:00:00Z');
    const small = new ReadBudget(64 * 1024);
    const first = await tally.today(now, small);
    assert.ok(first.countedTo !== undefined && first.counts.inBdat + first.counts.inData < 2000, JSON.stringify(first));
    const full = await tally.today(now, new ReadBudget());
    assert.deepEqual(full, { counts: { inBdat: 1500, inData: 500, outBdat: 1000, outData: 1000, fallbacks: 200, quirks: 1 } });
    log.record(received('late', 'BDAT'));
    await log.flush();
    const budget = new ReadBudget();
    assert.equal((await tally.today(now, budget)).counts.inBdat, 1501);
    assert.ok(budget.used < 1024, `only the new line is read: ${budget.used} bytes`);
    // Two views at once count each line once.
    const [a, b] = await Promise.all([tally.today(now, new ReadBudget()), tally.today(now, new ReadBudget())]);
    assert.deepEqual([a.counts.inBdat, b.counts.inBdat], [1501, 1501]);
    // A new day starts from nothing.
    assert.deepEqual((await tally.today(new Date('2024-03-06T00:01:00Z'), new ReadBudget())).counts, {
      inBdat: 0,
      inData: 0,
      outBdat: 0,
      outData: 0,
      fallbacks: 0,
      quirks: 0,
    });
  });
});
