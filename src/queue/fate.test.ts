import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fate, type AttemptResult, type EntryFacts, type RetryPolicy } from './fate.js';
import type { RecipientState } from './entry-state.js';
import type { NotifyCondition } from '../protocol/envelope.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** The defaults (config/defaults.ts): 15m, 30m, 1h, then 4h repeating; 5 days; a warning after 4h. */
const POLICY: RetryPolicy = {
  scheduleMs: [15 * MINUTE, 30 * MINUTE, HOUR, 4 * HOUR],
  lifetimeMs: 5 * 24 * HOUR,
  delayWarningMs: 4 * HOUR,
  localRetryMs: MINUTE,
};
const RECEIVED = Date.parse('2026-12-01T00:00:00.000Z');
const at = (ms: number): Date => new Date(RECEIVED + ms);
const iso = (ms: number): string => at(ms).toISOString();
const entry = (notify?: NotifyCondition[]): EntryFacts => ({
  id: 'Q1',
  receivedAt: iso(0),
  recipient: { address: 'bob@remote.example', local: false, ...(notify === undefined ? {} : { notify }) },
});
const pending = (attempts: number, extra: Partial<RecipientState> = {}): RecipientState => ({
  address: 'bob@remote.example',
  local: false,
  status: 'pending',
  attempts,
  ...extra,
});
const busy: AttemptResult = { kind: 'deferred', status: '4.2.1', reason: '451 4.2.1 try later' };

test('fate of a transient failure: the default schedule by attempt, the last step repeating', () => {
  const rows: Array<[attemptsBefore: number, now: number, next: number]> = [
    [0, 0, 15 * MINUTE],
    [1, 15 * MINUTE, 45 * MINUTE],
    [2, 45 * MINUTE, 105 * MINUTE],
    [3, 105 * MINUTE, 105 * MINUTE + 4 * HOUR],
    [7, 20 * HOUR, 24 * HOUR],
  ];
  for (const [before, now, next] of rows) {
    const f = fate(pending(before), busy, entry(), POLICY, at(now));
    assert.equal(f.next.status, 'pending');
    assert.equal(f.next.attempts, before + 1);
    assert.equal(f.next.nextAttempt, iso(next), `after attempt ${before + 1}`);
    assert.deepEqual(f.event, {
      event: 'deferred',
      id: 'Q1',
      rcpt: 'bob@remote.example',
      reason: '451 4.2.1 try later',
      nextAttempt: iso(next),
    });
  }
});

test('fate of a transient failure: one delay warning after 4 hours, none before or again; the next try never past the lifetime', () => {
  assert.equal(fate(pending(3), busy, entry(), POLICY, at(3 * HOUR)).notice, undefined);
  const warned = fate(pending(4), busy, entry(), POLICY, at(5 * HOUR + 45 * MINUTE));
  assert.equal(warned.next.warned, true);
  assert.deepEqual(warned.notice, {
    recipient: entry().recipient,
    action: 'delayed',
    status: '4.2.1',
    detail: '451 4.2.1 try later',
    willRetryUntil: at(POLICY.lifetimeMs),
  });
  assert.equal(fate(warned.next, busy, entry(), POLICY, at(9 * HOUR)).notice, undefined);
  const late = fate(pending(20, { warned: true }), busy, entry(), POLICY, at(POLICY.lifetimeMs - HOUR));
  assert.equal(late.next.nextAttempt, iso(POLICY.lifetimeMs));
});

test('fate past the lifetime: bounced with 4.4.7 for a 4xx (the 5xx status kept otherwise), the retry time gone', () => {
  const f = fate(pending(31, { nextAttempt: iso(POLICY.lifetimeMs) }), busy, entry(), POLICY, at(POLICY.lifetimeMs));
  assert.equal(f.next.status, 'bounced');
  assert.equal(f.next.nextAttempt, undefined);
  assert.equal(f.next.lastResult, 'gave up after 32 attempts: 451 4.2.1 try later');
  assert.equal(f.notice?.action, 'failed');
  assert.equal(f.notice?.status, '4.4.7');
  assert.equal(f.event.event, 'bounced');
  const odd = fate(pending(31), { kind: 'deferred', status: '5.0.0', reason: 'odd' }, entry(), POLICY, at(POLICY.lifetimeMs + 1));
  assert.equal(odd.notice?.status, '5.0.0');
});

test('fate of a local failure: retried after the local delay, not the remote schedule', () => {
  const local = { ...pending(0), address: 'alice@here.example', local: true };
  const f = fate(local, { kind: 'deferred', status: '4.2.0', reason: 'local delivery failed: ENOSPC' }, entry(), POLICY, at(0));
  assert.equal(f.next.nextAttempt, iso(MINUTE));
});

test("fate of a permanent failure: bounced at once with the peer's status and its MTA", () => {
  const f = fate(
    pending(0),
    { kind: 'failed', status: '5.1.1', detail: '550 5.1.1 no such user', remoteMta: 'dns; mx.remote.example' },
    entry(),
    POLICY,
    at(0),
  );
  assert.deepEqual(f.next, {
    address: 'bob@remote.example',
    local: false,
    status: 'bounced',
    attempts: 1,
    lastResult: '550 5.1.1 no such user',
  });
  assert.deepEqual(f.notice, {
    recipient: entry().recipient,
    action: 'failed',
    status: '5.1.1',
    detail: '550 5.1.1 no such user',
    remoteMta: 'dns; mx.remote.example',
  });
  assert.deepEqual(f.event, { event: 'bounced', id: 'Q1', rcpt: 'bob@remote.example', reason: '550 5.1.1 no such user' });
});

test('fate of a delivery: delivered, tracked with its particulars; a notice only for NOTIFY=SUCCESS', () => {
  const delivered: AttemptResult = {
    kind: 'delivered',
    detail: 'mx.remote.example BDAT/2: 250 2.0.0 ok',
    tracked: { via: 'smtp', detail: 'mx.remote.example BDAT/2: 250 2.0.0 ok', method: 'BDAT', chunks: 2 },
    notice: { action: 'relayed', status: '2.0.0', detail: '250 2.0.0 ok', remoteMta: 'dns; mx.remote.example' },
  };
  const quiet = fate(pending(2, { nextAttempt: iso(HOUR) }), delivered, entry(), POLICY, at(HOUR));
  assert.deepEqual(quiet.next, {
    address: 'bob@remote.example',
    local: false,
    status: 'delivered',
    attempts: 3,
    lastResult: 'mx.remote.example BDAT/2: 250 2.0.0 ok',
  });
  assert.equal(quiet.notice, undefined);
  assert.deepEqual(quiet.event, {
    event: 'delivered',
    id: 'Q1',
    rcpt: 'bob@remote.example',
    via: 'smtp',
    detail: 'mx.remote.example BDAT/2: 250 2.0.0 ok',
    method: 'BDAT',
    chunks: 2,
  });
  const asked = fate(pending(0), delivered, entry(['SUCCESS', 'FAILURE']), POLICY, at(0));
  assert.equal(asked.notice?.action, 'relayed');
  assert.equal(asked.notice?.remoteMta, 'dns; mx.remote.example');
});

test('fate never changes the state it is given', () => {
  const before = pending(1, { nextAttempt: iso(15 * MINUTE) });
  const copy = structuredClone(before);
  fate(before, busy, entry(), POLICY, at(15 * MINUTE));
  fate(before, { kind: 'failed', status: '5.0.0', detail: 'no' }, entry(), POLICY, at(15 * MINUTE));
  assert.deepEqual(before, copy);
});
