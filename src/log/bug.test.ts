/** Bug reports: a `bug` tracking event with the stack, read back from the log; a reporter that never throws. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bugEvent, bugReason, bugReporter, placeOf } from './bug.js';
import { clockAt } from '../../test/support/virtual-clock.js';
import { readTrackingLog, TrackingLog, trackingFileName, type TrackingEvent } from './tracking.js';

test('a bug event carries the message, the stack and the connection; the tracking log keeps it as one line', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'barge-bug-'));
  try {
    const thrown = new TypeError('cannot read properties of undefined (reading "rcpts")\nsecond line');
    const event = bugEvent(thrown, { where: 'inbound', connection: 'smtp/7', clientIp: '192.0.2.9' });
    assert.equal(event.event, 'bug');
    assert.equal(event.message, thrown.message);
    assert.equal(event.stack, thrown.stack);
    assert.match(event.stack, /^TypeError: cannot read[\s\S]*\n {4}at /, 'the stack names the frames');
    assert.equal(placeOf(event), 'inbound connection smtp/7 from 192.0.2.9');
    const t = new Date('2026-02-03T04:05:06.000Z');
    const log = new TrackingLog({ dir, clock: clockAt(() => t) });
    log.record(event);
    await log.close();
    const text = await readFile(join(dir, trackingFileName(t)), 'utf8');
    assert.equal(text.split('\n').filter((l) => l !== '').length, 1, 'a multi-line stack is still one line');
    const [read] = await readTrackingLog(dir);
    assert.deepEqual(read, { time: t.toISOString(), ...event });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('whatever was thrown, the event and the reason are made without a throw', () => {
  const outbound = bugEvent('a string', { where: 'outbound', id: 'Q1', destination: 'mx.example:25' });
  assert.deepEqual([outbound.message, outbound.stack], ['a string', 'a string']);
  assert.equal(placeOf(outbound), 'outbound delivery of Q1 to mx.example:25');
  const hostile = {
    toString: (): string => {
      throw new Error('no');
    },
  };
  assert.equal(bugEvent(hostile, { where: 'inbound' }).message, 'a value that cannot be printed was thrown');
  assert.equal(bugReason(new RangeError('bad offset')), 'internal error in Barge (a bug, reported): bad offset');
});

test('a reporter tracks the event and writes the stack; a failing tracker or writer never makes a second bug', () => {
  const events: TrackingEvent[] = [];
  const lines: string[] = [];
  const report = bugReporter(
    (e) => events.push(e),
    (text) => lines.push(text),
  );
  report(new Error('boom'), { where: 'inbound', connection: 'smtp/1', clientIp: '127.0.0.1' });
  assert.equal(events.length, 1);
  assert.equal(events[0]?.event, 'bug');
  assert.equal(lines.length, 1);
  assert.match(
    lines[0] ?? '',
    /^barge: bug caught in the inbound connection smtp\/1 from 127\.0\.0\.1 \(that session alone ended\): Error: boom\n {4}at /,
  );
  const broken = bugReporter(
    () => {
      throw new Error('disk gone');
    },
    () => {
      throw new Error('stderr gone');
    },
  );
  assert.doesNotThrow(() => broken(new Error('boom'), { where: 'outbound' }));
});
