import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReadBudget } from './line-reader.js';
import { readProtocolLog } from './w3c-read.js';

const header = (fields: string): string =>
  `#Software: Barge 0.1.0\r\n#Version: 1.0\r\n#Date: 2024-03-05 00:00:00\r\n#Fields: ${fields}\r\n`;
const two = (n: number): string => String(n).padStart(2, '0');
/** Entry `i` is logged at second `i` of the day. */
const entry = (i: number): string =>
  `${two(Math.floor(i / 3600))}:${two(Math.floor(i / 60) % 60)}:${two(i % 60)} 192.0.2.${i % 250} RCPT TO:<user${i}@Example.net> 250\r\n`;

async function withLog(files: Record<string, string>, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'barge-w3c-read-'));
  try {
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const day = header('time c-ip cs-method cs-uri-query sc-status') + Array.from({ length: 80_000 }, (_, i) => entry(i)).join('');

test('the newest file by default, its last entries first, with its field names; other files listed', async () => {
  await withLog({ 'ex240305.log': day, 'ex240304.log': `${header('time')}00:00:01\r\n`, 'notes.txt': 'x\n' }, async (dir) => {
    const page = await readProtocolLog(dir, { limit: 3 });
    assert.equal(page.file, 'ex240305.log');
    assert.deepEqual(page.files, ['ex240305.log', 'ex240304.log']);
    assert.deepEqual(page.fields, ['time', 'c-ip', 'cs-method', 'cs-uri-query', 'sc-status']);
    assert.deepEqual(
      page.rows.map((r) => r[3]),
      ['TO:<user79999@Example.net>', 'TO:<user79998@Example.net>', 'TO:<user79997@Example.net>'],
    );
    assert.equal(page.searchedBackTo, undefined);
    const older = await readProtocolLog(dir, { file: 'ex240304.log' });
    assert.deepEqual([older.fields, older.rows], [['time'], [['00:00:01']]]);
  });
});

test("a search matches any case; the columns come from the header in force for the newest entry, or the file's first", async () => {
  const restarted = `${day}${header('time c-ip cs-method')}23:59:58 192.0.2.7 QUIT\r\n`;
  await withLog({ 'ex240305.log': restarted }, async (dir) => {
    const found = await readProtocolLog(dir, { search: 'USER1234@example', limit: 10 });
    assert.deepEqual(
      found.rows.map((r) => r[3]),
      ['TO:<user1234@Example.net>'],
    );
    assert.deepEqual(found.fields, ['time', 'c-ip', 'cs-method'], 'the last header, met going back');
    const newest = await readProtocolLog(dir, { limit: 1 });
    assert.deepEqual([newest.fields, newest.rows], [['time', 'c-ip', 'cs-method'], [['23:59:58', '192.0.2.7', 'QUIT']]]);
  });
  await withLog({ 'ex240305.log': day }, async (dir) => {
    // One session all day: the page is full long before its header, which is then read from the head
    // after a MiB of looking for a nearer one: the page reads a fraction of the file.
    const budget = new ReadBudget();
    const page = await readProtocolLog(dir, { limit: 500, budget });
    assert.deepEqual(page.fields, ['time', 'c-ip', 'cs-method', 'cs-uri-query', 'sc-status']);
    assert.equal(page.rows.length, 500);
    assert.ok(
      budget.used <= 1.5 * 1024 * 1024 && budget.used * 2 < Buffer.byteLength(day),
      `read ${budget.used} of ${Buffer.byteLength(day)} bytes`,
    );
  });
});

test('a search the budget cuts short says how far back it got', async () => {
  await withLog({ 'ex240305.log': day }, async (dir) => {
    const budget = new ReadBudget(64 * 1024);
    const page = await readProtocolLog(dir, { search: 'no-such-address', budget, limit: 500 });
    assert.deepEqual(page.rows, []);
    assert.ok(budget.exhausted);
    // 64 KiB from the end: about 1,300 of the 80,000 entries, the last at 22:13:19.
    const reached = page.searchedBackTo ?? '';
    assert.ok(reached > '21:45:00' && reached < '22:13:19', reached);
    assert.deepEqual(page.fields, ['time', 'c-ip', 'cs-method', 'cs-uri-query', 'sc-status']);
    const whole = await readProtocolLog(dir, { search: 'no-such-address' });
    assert.deepEqual([whole.rows, whole.searchedBackTo], [[], undefined]);
  });
});

test('a folder without files, or an empty file', async () => {
  await withLog({}, async (dir) => assert.deepEqual(await readProtocolLog(dir), { file: undefined, files: [], fields: [], rows: [] }));
  await withLog({ 'ex240305.log': '' }, async (dir) =>
    assert.deepEqual(await readProtocolLog(dir), { file: 'ex240305.log', files: ['ex240305.log'], fields: [], rows: [] }),
  );
});
