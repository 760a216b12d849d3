import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DueIndex, dueTime } from './due-index.js';

test('entries come out earliest first, only once due, and a moved entry comes out at its new time', () => {
  const index = new DueIndex();
  index.set('c', 300);
  index.set('a', 100);
  index.set('b', 200);
  index.set('a', 250);
  assert.equal(index.next(), 200);
  assert.deepEqual(index.takeDue(199), []);
  assert.deepEqual(index.takeDue(260), ['b', 'a']);
  index.delete('c');
  assert.equal(index.next(), undefined);
  assert.equal(index.size, 0);
});

test('takeDue stops at its limit and leaves the rest due', () => {
  const index = new DueIndex();
  for (let i = 0; i < 10; i++) index.set(`m${i}`, i);
  assert.deepEqual(index.takeDue(100, 3), ['m0', 'm1', 'm2']);
  assert.equal(index.size, 7);
  assert.equal(index.next(), 3);
});

test('against a sorted list: any sequence of set, delete and takeDue gives the same entries', () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), id: fc.integer({ min: 0, max: 30 }), at: fc.integer({ min: 0, max: 1000 }) }),
    fc.record({ kind: fc.constant('delete' as const), id: fc.integer({ min: 0, max: 30 }) }),
    fc.record({ kind: fc.constant('take' as const), now: fc.integer({ min: 0, max: 1000 }) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
      const index = new DueIndex();
      const model = new Map<string, number>();
      for (const o of ops) {
        if (o.kind === 'set') {
          index.set(`e${o.id}`, o.at);
          model.set(`e${o.id}`, o.at);
        } else if (o.kind === 'delete') {
          index.delete(`e${o.id}`);
          model.delete(`e${o.id}`);
        } else {
          const got = index.takeDue(o.now);
          const want = [...model].filter(([, at]) => at <= o.now);
          assert.deepEqual([...got].sort(), want.map(([id]) => id).sort());
          const times = got.map((id) => model.get(id) ?? -1);
          assert.deepEqual(
            times,
            [...times].sort((x, y) => x - y),
            'earliest first',
          );
          for (const id of got) model.delete(id);
        }
        const earliest = Math.min(...model.values());
        assert.equal(index.next(), model.size === 0 ? undefined : earliest);
        assert.equal(index.size, model.size);
      }
    }),
  );
});

test('an entry is due at its earliest pending recipient; one with none pending is not due', () => {
  const at = '2026-01-02T03:04:05.000Z';
  const waiting = { address: 'a@x', local: false, status: 'pending' as const, attempts: 1, nextAttempt: at };
  assert.equal(dueTime({ rcpts: [waiting, { address: 'b@x', local: true, status: 'delivered', attempts: 1 }] }), Date.parse(at));
  assert.equal(dueTime({ rcpts: [waiting, { address: 'b@x', local: false, status: 'pending', attempts: 0 }] }), 0);
  assert.equal(dueTime({ rcpts: [{ address: 'a@x', local: false, status: 'bounced', attempts: 3 }] }), undefined);
});
