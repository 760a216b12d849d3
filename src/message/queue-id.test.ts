/** Queue ids: fixed width, sortable by arrival time, unique within a millisecond. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeIdSource } from './queue-id.js';
import { clockAt } from '../../test/support/virtual-clock.js';

test('ids are 19 upper-case base-36/hex characters, time first', () => {
  const id = makeIdSource(
    clockAt(() => new Date(0)),
    (n) => Buffer.alloc(n, 0xab),
  )();
  assert.equal(id, '000000000ABABABABAB');
  assert.match(makeIdSource()(), /^[0-9A-Z]{9}[0-9A-F]{10}$/);
});

test('ids sort by time as strings, across base-36 digit boundaries', () => {
  const times = [0, 35, 36, 1295, 1296, Date.UTC(2026, 0, 1), Date.UTC(2026, 0, 1) + 1, Date.UTC(2100, 0, 1)];
  const ids = times.map((t) => makeIdSource(clockAt(() => new Date(t)))());
  assert.deepEqual([...ids].sort(), ids);
});

test('ids made in the same millisecond differ', () => {
  const next = makeIdSource(clockAt(() => new Date(Date.UTC(2026, 0, 1))));
  assert.equal(new Set(Array.from({ length: 1000 }, () => next())).size, 1000);
});
