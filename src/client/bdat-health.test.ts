/** The shared BDAT path rules, in virtual time: answers and timings in, verdicts out. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ChunkTimer,
  describeFailure,
  healthAfterCheck,
  isPathFailure,
  judgeChunk,
  judgeTransfer,
  needsCheck,
  tarpitted,
} from './bdat-health.js';

test("a chunk answer is judged: silence dropped, close reset, 500/502/504 refused, other errors the peer's", () => {
  assert.equal(judgeChunk({ kind: 'timeout', ms: 30_000 }, false, 2000), 'dropped');
  assert.equal(judgeChunk({ kind: 'closed', ms: 3 }, false, 2000), 'reset');
  for (const code of [500, 502, 504]) assert.equal(judgeChunk({ kind: 'reply', code, ms: 1 }, false, 2000), 'refused');
  for (const code of [421, 452, 554, 503]) assert.equal(judgeChunk({ kind: 'reply', code, ms: 1 }, false, 2000), 'rejected');
  assert.equal(judgeChunk({ kind: 'reply', code: 250, ms: 2000 }, false, 2000), 'ok');
  assert.equal(judgeChunk({ kind: 'reply', code: 250, ms: 2001 }, false, 2000), 'delayed');
  assert.deepEqual(
    ['dropped', 'reset', 'refused', 'rejected', 'ok', 'delayed'].map((v) => isPathFailure(v as never)),
    [true, true, true, false, false, false],
  );
});

test('the final chunk may take minutes: a 90 s BDAT LAST is ok, never delayed', () => {
  assert.equal(judgeChunk({ kind: 'reply', code: 250, ms: 90_000 }, true, 2000), 'ok');
});

test('only non-final chunk times show a tarpit (a slow honest receiver is not one)', () => {
  // The slow honest receiver: a check chunk and one 1 MB chunk answered at once, LAST after 90 s.
  // The final chunk's time is not among the non-final ones, so nothing is learnt.
  assert.equal(tarpitted([4, 12], 2000), false);
  // A tarpit holding each non-final chunk 5 s.
  assert.equal(tarpitted([5003, 5001, 4999], 2000), true);
  assert.equal(tarpitted([], 2000), false);
});

test('health: unknown is checked; a pass on a new session still checks a reused one once', () => {
  assert.equal(needsCheck(undefined, false), true);
  assert.equal(needsCheck(undefined, true), true);
  assert.equal(needsCheck('new-session', false), false);
  assert.equal(needsCheck('new-session', true), true);
  assert.equal(needsCheck('reused-session', true), false);
  assert.equal(healthAfterCheck(undefined, false), 'new-session');
  assert.equal(healthAfterCheck('new-session', true), 'reused-session');
  assert.equal(healthAfterCheck('reused-session', false), 'reused-session', 'never narrowed');
});

test('failures are described in plain words for the quirk', () => {
  assert.equal(
    describeFailure('dropped', { kind: 'timeout', ms: 30_000 }, 4096),
    'no reply within 30000 ms to a 4096-octet non-final BDAT chunk: BDAT is dropped on this path',
  );
  assert.match(describeFailure('reset', { kind: 'closed', ms: 2 }, 4096), /^connection lost after a 4096-octet non-final BDAT chunk/);
  assert.equal(
    describeFailure('refused', { kind: 'reply', code: 500, ms: 1 }, 4096, '500 5.5.1 Command unrecognized'),
    'BDAT answered "500 5.5.1 Command unrecognized" although CHUNKING was advertised',
  );
});

test('ChunkTimer pairs chunks with answers in order; judgeTransfer words a silent or reset check chunk for the quirk', () => {
  const t = new ChunkTimer();
  t.sent({ check: true, last: false, octets: 4096 }, 1000);
  t.answered({ kind: 'reply', code: 250 }, 1040);
  t.sent({ check: false, last: false, octets: 100 }, 1050);
  t.sent({ check: false, last: true, octets: 10 }, 1060);
  t.answered({ kind: 'reply', code: 250 }, 1250);
  t.answered({ kind: 'reply', code: 250 }, 1300);
  assert.deepEqual(judgeTransfer(t.timings, 2000), { check: { verdict: 'ok', ms: 40 }, nonFinalMs: [40, 200] });
  const silent = new ChunkTimer();
  silent.sent({ check: true, last: false, octets: 4096 }, 0);
  silent.answered({ kind: 'timeout' }, 30_000);
  silent.answered({ kind: 'reply', code: 250 }, 30_001);
  assert.equal(silent.timings.length, 1);
  assert.deepEqual(judgeTransfer(silent.timings, 2000), {
    check: { verdict: 'dropped', ms: 30_000 },
    nonFinalMs: [],
    pathFailure: 'no reply within 30000 ms to a 4096-octet non-final BDAT chunk: BDAT is dropped on this path',
  });
  const reset = new ChunkTimer();
  reset.sent({ check: true, last: false, octets: 20 }, 0);
  reset.answered({ kind: 'closed' }, 5);
  const words = judgeTransfer(reset.timings, 2000).pathFailure ?? '';
  assert.match(words, /^connection lost after a 20-octet non-final BDAT chunk \(5 ms\): BDAT is reset/);
});
