/** The runner takes entries by due time, from an index, with no periodic rescan of the queue. */
import { realClock } from '../time/clock.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Spool } from './spool.js';
import { QueueRunner, type EntryState } from './runner.js';
import { DEFAULTS } from '../config/defaults.js';

const HOUR = 3_600_000;

async function entry(spool: Spool, id: string, nextAttempt?: number): Promise<void> {
  const w = spool.begin(id);
  w.write(Buffer.from('Subject: due\r\n\r\nhi\r\n'));
  const address = `${id.toLowerCase()}@remote.test`;
  const rcpts = [{ address, local: false }];
  const transaction = { from: 'a@t.test', body: '7BIT' as const, smtputf8: false, rcpts };
  await spool.commit(w, {
    id,
    receivedAt: new Date().toISOString(),
    listener: 't',
    clientIp: '127.0.0.1',
    helo: 't.test',
    protocol: 'ESMTP',
    method: 'DATA',
    chunks: 0,
    size: 20,
    transaction,
  });
  if (nextAttempt === undefined) return;
  const state: EntryState = {
    rcpts: [{ address, local: false, status: 'pending', attempts: 1, nextAttempt: new Date(nextAttempt).toISOString() }],
  };
  await spool.writeState(id, state);
}

test('each entry is tried at its own due time, long before the next scan, and one not due is left alone', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'barge-runner-'));
  try {
    const spool = await Spool.open(dir);
    const now = Date.now();
    await entry(spool, 'NEW');
    await entry(spool, 'SOON', now + 300);
    await entry(spool, 'LATER', now + HOUR);
    const tried: Array<{ id: string; at: number }> = [];
    const runner = new QueueRunner({
      spool,
      mailRoot: join(dir, 'mail'),
      hostname: 'barge.test',
      clock: realClock,
      track: () => undefined,
      // The default scan interval: a rescan cannot be what takes SOON within the test.
      scanIntervalMs: DEFAULTS.scanIntervalMs,
      retry: { scheduleMs: [HOUR], lifetimeMs: 24 * HOUR, delayWarningMs: 4 * HOUR, localRetryMs: 60_000 },
      deliverRemote: async (_domain, message) => {
        tried.push({ id: message.rcpts[0]?.address.split('@')[0]?.toUpperCase() ?? '', at: Date.now() });
        return {
          outcomes: message.rcpts.map((r) => ({ address: r.address, kind: 'temporary' as const, status: '4.4.1', detail: 'try later' })),
        };
      },
    });
    runner.start();
    const deadline = Date.now() + 10_000;
    while (tried.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await runner.idle();
    await new Promise((r) => setTimeout(r, 300));
    await runner.stop();
    assert.deepEqual(tried.map((t) => t.id).sort(), ['NEW', 'SOON']);
    const soon = tried.find((t) => t.id === 'SOON');
    assert.ok(soon !== undefined && soon.at >= now + 300, 'SOON is not taken before it is due');
    assert.ok(soon.at < now + DEFAULTS.scanIntervalMs / 2, 'SOON is taken at its due time, not at a scan');
    const later = await spool.readState<EntryState>('LATER');
    assert.equal(later?.rcpts[0]?.attempts, 1, 'LATER is not tried before it is due');
    await spool.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
