import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SegmentReaders } from './segment-readers.js';
import { ReadHold, settlesWithin } from '../../../test/support/read-hold.js';

/** A real segment file per generation in a temporary directory, and readers over them. */
async function withSegments(f: (readers: SegmentReaders, gate: ReadHold, path: (g: number) => string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'barge-readers-'));
  const path = (g: number): string => join(dir, `${g}.seg`);
  const gate = new ReadHold();
  try {
    await writeFile(path(1), 'header|message one|trailer');
    await writeFile(path(2), 'message two');
    const readers = new SegmentReaders(path, { beforeRead: gate.pass });
    try {
      await f(readers, gate, path);
    } finally {
      gate.open();
      readers.closeAll();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Whether this process has `path` open (Linux: a descriptor in /proc/self/fd links to it). */
async function isOpen(path: string): Promise<boolean> {
  for (const fd of await readdir('/proc/self/fd')) if ((await readlink(`/proc/self/fd/${fd}`).catch(() => '')) === path) return true;
  return false;
}

test('idle resolves at once for a segment with no read in flight, before and after reads', async () => {
  await withSegments(async (readers) => {
    const beforeAny = readers.idle(1);
    assert.equal(await Promise.race([beforeAny.then(() => 'idle'), new Promise((r) => setImmediate(() => r('later')))]), 'idle');
    assert.equal((await readers.read(1, 7, 11)).toString(), 'message one');
    const afterRead = readers.idle(1);
    assert.equal(await Promise.race([afterRead.then(() => 'idle'), new Promise((r) => setImmediate(() => r('later')))]), 'idle');
  });
});

test('idle waits for the read in flight on its segment, and only on its segment', async () => {
  await withSegments(async (readers, gate) => {
    gate.holdNext();
    const read = readers.read(1, 7, 11);
    await gate.holding();
    const events: string[] = [];
    const idle = readers.idle(1).then(() => events.push('idle'));
    // A read on another segment is no reason to wait.
    assert.equal(await settlesWithin(readers.idle(2), 50), 'settled');
    assert.equal(await settlesWithin(idle, 50), 'pending', 'idle resolved while a read on the segment was in flight');
    events.push('released');
    gate.open();
    assert.equal((await read).toString(), 'message one');
    await idle;
    assert.deepEqual(events, ['released', 'idle']);
  });
});

test('idle waits for every read in flight on the segment, not just the first to end', async () => {
  await withSegments(async (readers, gate) => {
    gate.holdNext();
    const held = readers.read(1, 7, 11);
    await gate.holding();
    // A second read on the same segment begins and ends while the first is held.
    assert.equal((await readers.read(1, 0, 6)).toString(), 'header');
    const idle = readers.idle(1);
    assert.equal(await settlesWithin(idle, 50), 'pending', 'idle resolved while a read on the segment was still in flight');
    gate.open();
    assert.equal((await held).toString(), 'message one');
    await idle;
  });
});

test("close does not close a segment's handle under a read in flight: the read returns the right bytes, then it is closed", async () => {
  await withSegments(async (readers, gate, path) => {
    gate.holdNext();
    const read = readers.read(1, 7, 11);
    // The read holds the segment's open handle when the segment is retired.
    await gate.holding();
    readers.close(1);
    await sleep(50);
    assert.ok(await isOpen(path(1)), 'the handle was closed under the read');
    gate.open();
    assert.equal((await read).toString(), 'message one');
    // Closed once the read has ended, by close itself: a handle left behind would be closed only
    // by the garbage collector, which warns (the close runs on the thread pool: allow it time).
    const collected: string[] = [];
    const onWarning = (w: Error): void => {
      if (/garbage collection/.test(w.message)) collected.push(w.message);
    };
    process.on('warning', onWarning);
    try {
      for (let tries = 0; tries < 100 && (await isOpen(path(1))); tries++) await sleep(20);
      assert.equal(await isOpen(path(1)), false, "the retired segment's handle was never closed");
      await sleep(0);
    } finally {
      process.off('warning', onWarning);
    }
    assert.deepEqual(collected, [], 'the handle was left to the garbage collector');
    // A later read opens the segment again rather than using a closed handle.
    assert.equal((await readers.read(1, 19, 7)).toString(), 'trailer');
  });
});
