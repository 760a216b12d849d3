import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Semaphore } from './authenticator.js';

test('the semaphore runs at most its size at once, the rest in arrival order, and frees a slot on failure', async () => {
  const gate = new Semaphore(2);
  let running = 0;
  let most = 0;
  const order: number[] = [];
  const task = (i: number) => async (): Promise<number> => {
    running++;
    most = Math.max(most, running);
    await new Promise((r) => setTimeout(r, 5));
    running--;
    order.push(i);
    if (i === 1) throw new Error('boom');
    return i;
  };
  const results = await Promise.allSettled([0, 1, 2, 3, 4, 5].map((i) => gate.run(task(i))));
  assert.equal(most, 2);
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
  assert.deepEqual(order.slice(0, 2).sort(), [0, 1]);
  assert.equal(await gate.run(async () => 'free'), 'free');
});
