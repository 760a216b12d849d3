/** The quirk store on a real file: what is learnt survives a concurrent re-read, and health round-trips. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QuirkStore, quirksPath } from './quirks.js';

test('a re-read while a quirk is being written keeps it (concurrent deliveries learn it once)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'barge-quirks-'));
  try {
    const store = await QuirkStore.open(quirksPath(dir));
    const writing = store.remember('192.0.2.7:25', 'no-bdat', 'BDAT is dropped on this path', 60_000);
    await store.refresh();
    assert.equal(store.get('192.0.2.7:25', 'no-bdat')?.reason, 'BDAT is dropped on this path');
    await writing;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('bdat-ok keeps the sessions it was seen on; forget removes one kind only', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'barge-quirks-'));
  try {
    const store = await QuirkStore.open(quirksPath(dir));
    await store.remember('192.0.2.7:25', 'bdat-ok', 'a non-final BDAT chunk was answered in 3 ms on a reused session', 60_000, 'reused-session');
    await store.remember('192.0.2.7:25', 'big-chunks', 'slow', 60_000);
    const again = await QuirkStore.open(quirksPath(dir));
    assert.equal(again.get('192.0.2.7:25', 'bdat-ok')?.health, 'reused-session');
    await again.forget('192.0.2.7:25', 'bdat-ok');
    assert.deepEqual((await QuirkStore.open(quirksPath(dir))).list().map((q) => q.kind), ['big-chunks']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
