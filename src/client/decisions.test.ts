import { test } from 'node:test';
import assert from 'node:assert/strict';
import { afterAttempt, chunkLessons, planContent, replyTimeout } from './decisions.js';
import type { ClientOutcome, PeerCapabilities } from '../protocol/client-types.js';

const caps = (...keywords: string[]): PeerCapabilities => ({
  esmtp: true,
  keywords: new Map(keywords.map((k) => [k, ''])),
  greeting: 'mx',
});
const CLEAN = caps('PIPELINING', 'CHUNKING', '8BITMIME');
const MASKED = caps('PIPELINING', 'XXXXXXXA', '8BITMIME');

test('content plan: BDAT on a clean path; DATA and a lesson for masked keywords; a remembered no-bdat; one chunk for big-chunks', () => {
  assert.deepEqual(planContent(CLEAN, true, true, 1000, {}), { allowBdat: true, chunkSize: 1000 });
  assert.deepEqual(planContent(MASKED, true, true, 1000, {}), {
    allowBdat: false,
    chunkSize: 1000,
    fallback: 'DATA instead of BDAT (EHLO keywords masked (XXXXXXXA): an ESMTP-inspecting device is on the path)',
    learn: { kind: 'no-bdat', reason: 'EHLO keywords masked (XXXXXXXA): an ESMTP-inspecting device is on the path' },
  });
  // With the fallback off, nothing is worked around: failures show.
  assert.deepEqual(planContent(MASKED, true, false, 1000, {}), { allowBdat: true, chunkSize: 1000 });
  assert.deepEqual(planContent(CLEAN, true, true, 1000, { noBdat: 'reset after BDAT' }), {
    allowBdat: false,
    chunkSize: 1000,
    fallback: 'DATA instead of BDAT (remembered: reset after BDAT)',
  });
  assert.deepEqual(planContent(CLEAN, false, true, 1000, { noBdat: 'x' }), { allowBdat: false, chunkSize: 1000 });
  assert.equal(planContent(CLEAN, true, true, 1000, { bigChunks: 'slow' }).chunkSize, Number.MAX_SAFE_INTEGER);
});

test('after an attempt: fallback to DATA on a path failure, clear text after an opportunistic TLS failure, fresh after a stale kept session', () => {
  const fresh = { fallbackOn: true, reused: false };
  const path: ClientOutcome = { kind: 'pathFailure', reason: 'connection lost or silent after BDAT: no reply within 1000 ms' };
  assert.deepEqual(afterAttempt(path, fresh), {
    kind: 'retry',
    fresh: true,
    learn: { kind: 'no-bdat', reason: 'connection lost or silent after BDAT: no reply within 1000 ms' },
    fallback: 'DATA instead of BDAT (connection lost or silent after BDAT: no reply within 1000 ms)',
  });
  assert.deepEqual(afterAttempt(path, { ...fresh, fallbackOn: false }), { kind: 'nextHop', problem: path.reason });
  assert.deepEqual(afterAttempt({ kind: 'tlsFailure', reason: 'ECONNRESET', required: false }, fresh), {
    kind: 'retry',
    fresh: true,
    learn: { kind: 'no-tls', reason: 'opportunistic TLS failed: ECONNRESET' },
  });
  assert.equal(afterAttempt({ kind: 'tlsFailure', reason: 'bad certificate', required: true }, fresh).kind, 'nextHop');
  const lost: ClientOutcome = { kind: 'connectionLost', stage: 'MAIL', reason: 'connection closed by the peer' };
  assert.deepEqual(afterAttempt(lost, { ...fresh, reused: true }), { kind: 'retry', fresh: true });
  assert.deepEqual(afterAttempt(lost, fresh), { kind: 'nextHop', problem: 'MAIL: connection closed by the peer' });
  assert.deepEqual(afterAttempt({ kind: 'timeout', stage: 'greeting', replyClass: 'greeting' }, fresh), {
    kind: 'nextHop',
    problem: 'greeting: no reply in time',
  });
});

test('after an attempt: answers for the recipients are done; a refused session moves on to the next host', () => {
  const ctx = { fallbackOn: true, reused: true };
  assert.deepEqual(afterAttempt({ kind: 'delivered', method: 'BDAT', chunks: 1, recipients: [] }, ctx), { kind: 'done' });
  assert.deepEqual(afterAttempt({ kind: 'unsendable', recipients: [] }, ctx), { kind: 'done' });
  const refused = { code: 550, text: '550 5.1.1 no', permanent: true, recipients: [] } as const;
  assert.deepEqual(afterAttempt({ kind: 'rejected', stage: 'RCPT', ...refused }, ctx), { kind: 'done' });
  assert.deepEqual(afterAttempt({ kind: 'rejected', stage: 'greeting', ...refused, code: 554, text: '554 go away' }, ctx), {
    kind: 'nextHop',
    problem: 'greeting 554 go away',
  });
  assert.equal(afterAttempt({ kind: 'localFailure', stage: 'STARTTLS', reason: 'TLS required' }, ctx).kind, 'nextHop');
});

test('adaptive chunking and BDAT health: what a delivered BDAT transfer teaches', () => {
  const slow = { nonFinalMs: [2500, 2600, 2400] };
  const reason = chunkLessons(slow, {}, false, 2000).learn?.reason ?? '';
  assert.match(reason, /^3 non-final chunks took 2500 ms each on average: the path delays/);
  assert.equal(chunkLessons({ nonFinalMs: [2000, 2000] }, {}, false, 2000).learn, undefined, 'exactly at the limit is not slow');
  assert.equal(chunkLessons({ nonFinalMs: [] }, {}, false, 2000).learn, undefined, 'one chunk has no non-final chunk');
  assert.equal(chunkLessons(slow, { bigChunks: 'known' }, false, 2000).learn, undefined, 'learnt once');
  const delayed = chunkLessons({ check: { verdict: 'delayed', ms: 2500 }, nonFinalMs: [2500] }, {}, false, 2000);
  assert.equal(delayed.learn?.kind, 'big-chunks');
  assert.deepEqual(delayed.health, { next: 'new-session', reason: 'a non-final BDAT chunk was answered in 2500 ms on a new session' });
  const ok = { check: { verdict: 'ok' as const, ms: 3 }, nonFinalMs: [3] };
  assert.equal(chunkLessons(ok, { bdatOk: 'new-session' }, true, 2000).health?.next, 'reused-session');
  assert.equal(chunkLessons(ok, { bdatOk: 'reused-session' }, false, 2000).health, undefined, 'never narrowed');
  assert.equal(chunkLessons({ check: { verdict: 'rejected', ms: 3 }, nonFinalMs: [3] }, {}, false, 2000).health, undefined);
});

test('reply timeouts by class: a short one only for the health-check chunk, the long one for the end of data', () => {
  const t = { commandMs: 300_000, bdatCheckMs: 30_000, endOfDataMs: 600_000 };
  assert.deepEqual(
    (['greeting', 'command', 'bdat-chunk', 'bdat-check', 'end-of-data'] as const).map((c) => replyTimeout(c, t)),
    [300_000, 300_000, 300_000, 30_000, 600_000],
  );
});
