import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../../test/support/barge.js';
import { writeFileDurably } from './durable-write.js';

test('writeFileDurably replaces a file whole, private by default, and leaves no temporary file', async () => {
  const dir = await tempDir();
  const file = join(dir, 'state.json');
  await writeFile(file, 'old');
  await writeFileDurably(file, '{"done":["bob@example.org"]}');
  assert.equal(await readFile(file, 'utf8'), '{"done":["bob@example.org"]}');
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.deepEqual(await readdir(dir), ['state.json']);
  await writeFileDurably(join(dir, 'cert.pem'), 'CERT', { mode: 0o644 });
  assert.equal((await stat(join(dir, 'cert.pem'))).mode & 0o777, 0o644);
});

test('a temporary file left by a crash does not keep its old mode; a failed write leaves the old file', async () => {
  const dir = await tempDir();
  const file = join(dir, 'users');
  await writeFile(`${file}.tmp`, 'torn', { mode: 0o666 });
  await writeFileDurably(file, 'alice');
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.equal(await readFile(file, 'utf8'), 'alice');
  // The rename target is a directory: the write fails and nothing of it is left behind.
  const blocked = join(dir, 'blocked');
  await mkdir(blocked);
  await assert.rejects(writeFileDurably(blocked, 'x'));
  assert.deepEqual((await readdir(dir)).sort(), ['blocked', 'users']);
});
