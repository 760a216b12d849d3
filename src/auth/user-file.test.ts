import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashPassword, updateUsers, UserFile } from './users.js';

test('UserFile reads the file again only when it changed: rewritten, edited in place, removed', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'barge-users-'));
  try {
    const path = join(dir, 'users');
    const file = new UserFile(path);
    assert.deepEqual((await file.current()).list(), []);
    const hash = await hashPassword('pw');
    await updateUsers(path, () => [{ name: 'alice', hash, addresses: [], admin: true }]);
    const first = await file.current();
    assert.equal(first.get('alice')?.admin, true);
    // Unchanged: the same store, not read again.
    assert.equal(await file.current(), first);
    // Same size, same second: the rename gives a new inode.
    await updateUsers(path, () => [{ name: 'alice', hash, addresses: [] }]);
    assert.equal((await file.current()).get('alice')?.admin, undefined);
    // Edited in place by hand.
    await writeFile(path, `bob:${hash}\n`);
    assert.deepEqual(
      (await file.current()).list().map((u) => u.name),
      ['bob'],
    );
    await unlink(path);
    assert.deepEqual((await file.current()).list(), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
