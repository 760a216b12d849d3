/** A throw from the outbound delivery is Barge's bug: reported, and its recipients deferred (4.3.0), never bounced. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Spool } from './spool.js';
import { attempt } from './attempt.js';
import { initialState } from './runner.js';
import { realClock } from '../time/clock.js';
import type { BugPlace } from '../log/bug.js';
import type { TrackingEvent } from '../log/tracking.js';

test('a delivery that throws defers each of its recipients to the next retry and reports the bug', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'barge-attempt-'));
  try {
    const spool = await Spool.open(dir);
    const w = spool.begin('Q1');
    w.write(Buffer.from('Subject: x\r\n\r\nhi\r\n'));
    const rcpts = [
      { address: 'a@remote.test', local: false },
      { address: 'b@remote.test', local: false },
    ];
    const envelope = await spool.commit(w, {
      id: 'Q1',
      receivedAt: new Date().toISOString(),
      listener: 't',
      clientIp: '127.0.0.1',
      helo: 't.test',
      protocol: 'ESMTP',
      method: 'DATA',
      chunks: 0,
      size: 19,
      transaction: { from: 'x@t.test', body: '7BIT', smtputf8: false, rcpts },
    });
    const events: TrackingEvent[] = [];
    const bugs: Array<{ error: unknown; place: BugPlace }> = [];
    const { state, changed, notices } = await attempt('Q1', envelope, initialState(envelope), {
      spool,
      mailRoot: join(dir, 'mail'),
      hostname: 'barge.test',
      clock: realClock,
      track: (e) => events.push(e),
      retry: { scheduleMs: [900_000], lifetimeMs: 86_400_000, delayWarningMs: 4 * 3_600_000, localRetryMs: 60_000 },
      deliverRemote: () => Promise.reject(new TypeError('a bug in routing')),
      bug: (error, place) => bugs.push({ error, place }),
    });
    assert.equal(changed, true);
    assert.deepEqual(notices, []);
    assert.deepEqual(
      bugs.map((b) => b.place),
      [{ where: 'outbound', id: 'Q1', destination: 'remote.test' }],
    );
    assert.deepEqual(
      state.rcpts.map((r) => [r.status, r.attempts, r.lastResult]),
      [
        ['pending', 1, 'internal error in Barge (a bug, reported): a bug in routing'],
        ['pending', 1, 'internal error in Barge (a bug, reported): a bug in routing'],
      ],
    );
    for (const r of state.rcpts) assert.ok(Date.parse(r.nextAttempt ?? '') > Date.now() + 800_000, 'retried on the schedule');
    assert.deepEqual(
      events.map((e) => e.event),
      ['deferred', 'deferred'],
    );
    await spool.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
