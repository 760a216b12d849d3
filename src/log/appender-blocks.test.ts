import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Appender } from './appender.js';

test('texts copied into reused blocks reach their files byte for byte, across blocks, files and a long text', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'barge-blocks-'));
  try {
    const a = join(dir, 'a.log');
    const b = join(dir, 'b.log');
    const out = new Appender();
    const want = new Map([
      [a, ''],
      [b, ''],
    ]);
    // Lines of varying length with multi-byte characters, so texts straddle the 64 KiB blocks.
    for (let i = 0; i < 30_000; i++) {
      const path = i % 7 === 0 ? b : a;
      const text = i === 12_345 ? `${'x'.repeat(100_000)}\n` : `${i} ${'é€'.repeat(i % 23)}\n`;
      assert.equal(out.append(path, text), true);
      want.set(path, `${want.get(path) ?? ''}${text}`);
      if (i % 5000 === 0) await out.flush();
    }
    await out.close();
    assert.equal(await readFile(a, 'utf8'), want.get(a));
    assert.equal(await readFile(b, 'utf8'), want.get(b));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('above half its bound the appender is congested, and onDrain fires once it has written', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'barge-blocks-'));
  try {
    const out = new Appender({ maxBufferBytes: 1000 });
    const file = join(dir, 'x.log');
    let woken = false;
    out.onDrain(() => (woken = true));
    await null;
    assert.equal(woken, true, 'not congested: called at once');
    woken = false;
    for (let i = 0; i < 6; i++) out.append(file, `${'y'.repeat(99)}\n`);
    assert.equal(out.bufferedBytes, 600);
    assert.equal(out.congested, true);
    out.onDrain(() => (woken = true));
    assert.equal(woken, false);
    // Past the bound texts are dropped, and reported ahead of the next written one.
    for (let i = 0; i < 5; i++) out.append(file, `${'z'.repeat(99)}\n`);
    assert.equal(out.bufferedBytes, 1000);
    await out.flush();
    assert.equal(woken, true);
    assert.equal(out.congested, false);
    assert.equal(out.bufferedBytes, 0);
    await out.close();
    const text = await readFile(file, 'utf8');
    assert.equal(text.split('\n').filter((l) => l.startsWith('y')).length, 6);
    assert.equal(text.split('\n').filter((l) => l.startsWith('z')).length, 4);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
