/** The check worker's thread runs at a lower priority (nice 5) than the thread serving the sessions (Linux). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

/** Field 19 of /proc/thread-self/stat (proc(5)) is the calling thread's nice value. */
const niceOf = (stat: string): number => Number(stat.split(') ')[1]?.split(' ')[16]);

test('lowerThreadPriority lowers the priority of the calling thread alone', async () => {
  const module = new URL('./thread-priority.js', import.meta.url).href;
  const code =
    `import(${JSON.stringify(module)}).then((m) => { m.lowerThreadPriority(); require('node:worker_threads').parentPort` +
    `.postMessage(require('node:fs').readFileSync('/proc/thread-self/stat', 'utf8')); });`;
  const worker = new Worker(code, { eval: true });
  const stat = await new Promise<string>((resolve) => worker.once('message', resolve));
  await worker.terminate();
  const own = niceOf(readFileSync('/proc/thread-self/stat', 'utf8'));
  assert.ok(own < 5, `this test runs at nice ${own}, so the difference shows`);
  assert.equal(niceOf(stat), 5);
});
