/**
 * The check pool with a stand-in worker: started on the first check and reused, a check past its
 * budget answered `late` on time, a cancelled check that stops leaves its worker alone, a stuck one
 * gets it terminated and the other checks it was running finish on the next worker, at most
 * `maxParallel` checks run at once, and DNS answers and failures cross the port.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CheckPool, type CheckOutcome } from './check-pool.js';

const STAND_IN = new URL('./check-pool.test-support.js', import.meta.url);
const request = (path: string) => ({
  path,
  facts: { clientIp: '192.0.2.1', helo: 'c.example', from: 'a@c.example' },
  hostname: 'mx.example',
  maxHeaderBytes: 1 << 20,
});
const comment = (o: CheckOutcome): string | undefined => (o.kind === 'done' ? o.results.results[0]?.comments[0] : o.kind);

test('the worker starts on the first check and is reused; DNS answers and failures come from the main thread', async () => {
  const asked: string[] = [];
  const pool = new CheckPool({
    workerUrl: STAND_IN,
    maxParallel: () => 8,
    resolver: async (name) => {
      asked.push(name);
      if (name === 'missing.example') throw Object.assign(new Error('no data'), { code: 'ENODATA' });
      return [['v=spf1 -all']];
    },
  });
  try {
    assert.equal(pool.workersStarted, 0);
    assert.equal(comment(await pool.run(request('quick'), 5000)), 'quick');
    assert.equal(comment(await pool.run(request('dns:a.example'), 5000)), '[["v=spf1 -all"]]');
    assert.equal(comment(await pool.run(request('dns:missing.example'), 5000)), 'error ENODATA');
    assert.deepEqual(asked, ['a.example', 'missing.example']);
    assert.equal(pool.workersStarted, 1);
  } finally {
    await pool.close();
  }
});

test('a check past its budget is late on time; one that stops when told leaves the worker running', async () => {
  const pool = new CheckPool({ workerUrl: STAND_IN, maxParallel: () => 8, resolver: async () => [] });
  try {
    // The budget starts once the worker is ready: the first check waits for it to start.
    assert.equal(comment(await pool.run(request('quick'), 5000)), 'quick');
    const started = performance.now();
    assert.equal(comment(await pool.run(request('wait'), 300)), 'late');
    const took = performance.now() - started;
    assert.ok(took >= 290 && took < 600, `late after ${took.toFixed(0)} ms`);
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(comment(await pool.run(request('quick'), 5000)), 'quick');
    assert.deepEqual([pool.workersStarted, pool.workersTerminated], [1, 0]);
  } finally {
    await pool.close();
  }
});

test('a stuck check gets its worker terminated; the check running beside it finishes on the next worker', async () => {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let lookups = 0;
  const pool = new CheckPool({
    workerUrl: STAND_IN,
    maxParallel: () => 8,
    resolver: async () => {
      lookups++;
      await gate;
      return ['answered'];
    },
  });
  try {
    assert.equal(comment(await pool.run(request('quick'), 5000)), 'quick');
    const beside = pool.run(request('dns:gated.example'), 10_000);
    const started = performance.now();
    const stuck = await pool.run(request('spin'), 300);
    assert.equal(comment(stuck), 'late');
    const took = performance.now() - started;
    assert.ok(took < 800, `late after ${took.toFixed(0)} ms: the budget holds while the worker spins`);
    const deadline = Date.now() + 5000;
    while (pool.workersTerminated === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(pool.workersTerminated, 1);
    while (lookups < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    release();
    assert.equal(comment(await beside), '["answered"]');
    assert.equal(pool.workersStarted, 2);
  } finally {
    await pool.close();
  }
});

test('at most maxParallel checks run at once; the others wait their turn', async () => {
  let open = 0;
  let most = 0;
  const pool = new CheckPool({
    workerUrl: STAND_IN,
    maxParallel: () => 2,
    resolver: async () => {
      most = Math.max(most, ++open);
      await new Promise((r) => setTimeout(r, 50));
      open--;
      return [];
    },
  });
  try {
    const outcomes = await Promise.all(Array.from({ length: 6 }, (_, i) => pool.run(request(`dns:n${i}.example`), 5000)));
    assert.deepEqual(outcomes.map(comment), Array(6).fill('[]'));
    assert.equal(most, 2);
  } finally {
    await pool.close();
  }
});

test('while the worker loads, a check waits for it: its budget starts when the worker is ready', async () => {
  process.env.STAND_IN_READY_AFTER_MS = '1500';
  const pool = new CheckPool({ workerUrl: STAND_IN, maxParallel: () => 8, resolver: async () => [] });
  try {
    const started = performance.now();
    assert.equal(comment(await pool.run(request('wait'), 300)), 'late');
    const took = performance.now() - started;
    assert.ok(took >= 1750 && took < 4000, `late after ${took.toFixed(0)} ms`);
  } finally {
    delete process.env.STAND_IN_READY_AFTER_MS;
    await pool.close();
  }
});
