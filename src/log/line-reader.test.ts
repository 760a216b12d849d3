import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { linesBackward, linesForward, ReadBudget, type LineBatch } from './line-reader.js';

async function withFile(content: string | Buffer, fn: (path: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'barge-lines-'));
  try {
    const path = join(dir, 'log');
    await writeFile(path, content);
    await fn(path);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function collect(batches: AsyncGenerator<LineBatch | string[]>): Promise<string[]> {
  const out: string[] = [];
  for await (const batch of batches) out.push(...(Array.isArray(batch) ? batch : batch.lines));
  return out;
}

async function both(path: string, block: number, budget = new ReadBudget()): Promise<{ back: string[]; forward: string[] }> {
  const handle = await open(path, 'r');
  try {
    return {
      back: await collect(linesBackward(handle, { budget, block })),
      forward: await collect(linesForward(handle, { budget, block })),
    };
  } finally {
    await handle.close();
  }
}

/** What a reader must return: the complete lines, without CR, blank ones skipped. */
const expected = (text: string): string[] =>
  text
    .split('\n')
    .slice(0, -1)
    .map((l) => l.replace(/\r$/, ''))
    .filter((l) => l !== '');

test('every line comes back whole at every block size, lines split across blocks included, backwards and forwards', async () => {
  const text = `${['first', 'a somewhat longer second line', '', 'é multi-byte ü ✓ line', 'x', 'CRLF line\r', 'another\r', 'last'].join('\n')}\n`;
  await withFile(text, async (path) => {
    for (let block = 1; block <= Buffer.byteLength(text) + 1; block++) {
      const { back, forward } = await both(path, block);
      assert.deepEqual(forward, expected(text), `forward, block ${block}`);
      assert.deepEqual(back, expected(text).reverse(), `backward, block ${block}`);
    }
  });
});

test('a torn last line (no LF yet) is not returned, in either direction', async () => {
  await withFile('one\ntwo\nthree-torn', async (path) => {
    for (const block of [2, 5, 64 * 1024]) {
      const { back, forward } = await both(path, block);
      assert.deepEqual(back, ['two', 'one'], `block ${block}`);
      assert.deepEqual(forward, ['one', 'two'], `block ${block}`);
    }
  });
  await withFile('only-a-torn-line', async (path) => {
    assert.deepEqual(await both(path, 4), { back: [], forward: [] });
  });
});

test('CRLF lines lose their CR; a CR inside a line stays', async () => {
  await withFile('#Fields: time c-ip\r\n10:00:00 192.0.2.1\r\nodd\rline\r\n', async (path) => {
    const { back, forward } = await both(path, 3);
    assert.deepEqual(forward, ['#Fields: time c-ip', '10:00:00 192.0.2.1', 'odd\rline']);
    assert.deepEqual(back, ['odd\rline', '10:00:00 192.0.2.1', '#Fields: time c-ip']);
  });
});

test('empty files and files of blank lines give no lines', async () => {
  for (const content of ['', '\n', '\n\n\r\n']) {
    await withFile(content, async (path) => assert.deepEqual(await both(path, 2), { back: [], forward: [] }, JSON.stringify(content)));
  }
});

test('random contents at random block sizes match a plain split', async () => {
  let seed = 7;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let round = 0; round < 40; round++) {
    const lines = Array.from({ length: rand(30) }, () => 'abcdefghij\r'.slice(0, rand(12)).repeat(1 + rand(4)));
    const text = lines.join('\n') + (rand(2) === 0 ? '\n' : '');
    await withFile(text, async (path) => {
      const block = 1 + rand(40);
      const { back, forward } = await both(path, block);
      const complete = text.endsWith('\n') ? expected(text) : expected(text.slice(0, text.lastIndexOf('\n') + 1));
      assert.deepEqual(forward, complete, `round ${round}, block ${block}`);
      assert.deepEqual(back, [...complete].reverse(), `round ${round}, block ${block}`);
    });
  }
});

test('the budget stops the reading and says so; the offsets let a forward read resume', async () => {
  const text = `${Array.from({ length: 100 }, (_, i) => `line ${String(i).padStart(3, '0')}`).join('\n')}\n`;
  await withFile(text, async (path) => {
    const budget = new ReadBudget(100);
    const handle = await open(path, 'r');
    try {
      const back = await collect(linesBackward(handle, { budget, block: 40 }));
      assert.ok(budget.exhausted);
      assert.ok(budget.used <= 100);
      // 100 bytes read from the end (40, 40, then the 20 left): the last 11 lines of 9 bytes, newest first.
      assert.equal(budget.used, 100);
      assert.deepEqual(
        back,
        Array.from({ length: 11 }, (_, i) => `line ${String(99 - i).padStart(3, '0')}`),
      );
      const first: LineBatch[] = [];
      for await (const batch of linesForward(handle, { budget: new ReadBudget(64), block: 32 })) first.push(batch);
      const end = first.at(-1)?.end ?? 0;
      const rest = await collect(linesForward(handle, { budget: new ReadBudget(), start: end }));
      assert.deepEqual([...first.flatMap((b) => b.lines), ...rest], expected(text));
    } finally {
      await handle.close();
    }
  });
});

test('a line longer than the limit is skipped, the lines around it are not', async () => {
  const text = `before\n${'x'.repeat(5000)}\nafter\n`;
  await withFile(text, async (path) => {
    const handle = await open(path, 'r');
    try {
      const budget = new ReadBudget();
      assert.deepEqual(await collect(linesBackward(handle, { budget, block: 512, maxLine: 1024 })), ['after', 'before']);
      assert.deepEqual(await collect(linesForward(handle, { budget, block: 512, maxLine: 1024 })), ['before', 'after']);
    } finally {
      await handle.close();
    }
  });
});

test('a forward read asked to go past the end of a small file reads what is there', async () => {
  await withFile('# a header\nline\n', async (path) => {
    const handle = await open(path, 'r');
    try {
      assert.deepEqual(await collect(linesForward(handle, { budget: new ReadBudget(), end: 64, block: 64 })), ['# a header', 'line']);
    } finally {
      await handle.close();
    }
  });
});
