import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Appender } from './appender.js';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'barge-append-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('interleaved files keep call order and get a header each time they are reopened', async () => {
  await withDir(async (dir) => {
    const a = join(dir, 'a.log');
    const b = join(dir, 'sub', 'b.log');
    const out = new Appender({ header: (p) => `[open ${p === a ? 'a' : 'b'}]` });
    for (const [p, t] of [
      [a, '1'],
      [a, '2'],
      [b, '3'],
      [a, '4'],
      [b, '5'],
      [b, '6'],
    ] as const)
      out.append(p, t);
    await out.close();
    assert.equal(await readFile(a, 'utf8'), '[open a]12[open a]4');
    assert.equal(await readFile(b, 'utf8'), '[open b]3[open b]56');
    assert.equal(out.append(a, 'late'), false, 'appends after close are refused');
  });
});

test('after a failing disk recovers, writing resumes and the losses are counted', async () => {
  await withDir(async (dir) => {
    const logDir = join(dir, 'log');
    await writeFile(logDir, 'not a directory');
    const errors: Error[] = [];
    const out = new Appender({ header: () => 'H\n', notice: (n) => `lost ${n}\n`, onError: (e) => errors.push(e) });
    const file = join(logDir, 'x.log');
    out.append(file, 'a\n');
    out.append(file, 'b\n');
    await out.flush();
    out.append(file, 'c\n');
    await out.flush();
    assert.equal(errors.length, 1, 'one report for a run of failures');
    await rm(logDir);
    await mkdir(logDir);
    assert.equal(out.append(file, 'd\n'), true);
    await out.close();
    assert.equal(await readFile(file, 'utf8'), 'H\nlost 3\nd\n');
  });
});

test('a throwing onError callback does not escape', async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, 'f'), '');
    const out = new Appender({
      onError: () => {
        throw new Error('callback bug');
      },
    });
    out.append(join(dir, 'f', 'x.log'), 'a');
    await assert.doesNotReject(out.close());
  });
});

test('a new failure after a successful write is reported again', async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, 'f'), '');
    const errors: Error[] = [];
    const out = new Appender({ onError: (e) => errors.push(e) });
    const bad = join(dir, 'f', 'x.log');
    const good = join(dir, 'ok.log');
    for (const p of [bad, bad, good, bad]) {
      out.append(p, 'line\n');
      await out.flush();
    }
    await out.close();
    assert.equal(errors.length, 2);
    assert.equal(await readFile(good, 'utf8'), 'line\n');
  });
});

test('flush waits for what was appended before it, not for a pause: a busy server never pauses', async () => {
  await withDir(async (dir) => {
    const file = join(dir, 'busy.log');
    const out = new Appender();
    let n = 0;
    const timer = setInterval(() => out.append(file, `${n++}\n`), 1);
    try {
      await new Promise((r) => setTimeout(r, 30));
      out.append(file, 'marker\n');
      const t = performance.now();
      await Promise.race([out.flush(), new Promise((r) => setTimeout(r, 2000))]);
      const waited = performance.now() - t;
      assert.ok(waited < 1000, `flush waited ${waited.toFixed(0)} ms while lines kept coming`);
      assert.ok((await readFile(file, 'utf8')).includes('marker\n'), 'what came before the flush is on disk');
    } finally {
      clearInterval(timer);
      await out.close();
    }
    const lines = (await readFile(file, 'utf8')).split('\n');
    assert.equal(lines.filter((l) => /^\d+$/.test(l)).length, n, 'nothing lost');
  });
});
