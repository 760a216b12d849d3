/** giveTree, as root (the tests run as root): what it gives away, and where a user's links cannot lead it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chown, link, lstat, mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { giveTree } from './ownership.js';

const NOBODY = { uid: 65534, gid: 65534 };
const owner = async (path: string): Promise<string> => {
  const st = await lstat(path);
  return `${st.uid}:${st.gid}`;
};

test('a tree root made is given whole, but links lead nowhere and a directory someone else owns is not entered', async () => {
  assert.equal(process.getuid?.(), 0, 'this test changes owners: it runs as root');
  const top = await mkdtemp(join(tmpdir(), 'barge-give-'));
  const outside = await mkdtemp(join(tmpdir(), 'barge-outside-'));
  try {
    await mkdir(join(top, 'spool', 'queue'), { recursive: true, mode: 0o700 });
    await writeFile(join(top, 'spool', 'queue', 'segment'), 'x', { mode: 0o600 });
    await mkdir(join(top, 'mail', 'example.com', 'alice', 'new'), { recursive: true, mode: 0o700 });
    await writeFile(join(top, 'mail', 'example.com', 'alice', 'new', 'message'), 'x');
    await writeFile(join(top, 'users'), 'x', { mode: 0o600 });
    await writeFile(join(outside, 'shadow'), 'secret', { mode: 0o600 });
    await symlink(join(outside, 'shadow'), join(top, 'escape'));
    await symlink(outside, join(top, 'escape-dir'));
    await writeFile(join(outside, 'passwd'), 'x');
    await link(join(outside, 'passwd'), join(top, 'twin'));
    await mkdir(join(top, 'theirs'));
    await writeFile(join(top, 'theirs', 'inside'), 'x');
    await chown(join(top, 'theirs'), 1234, 1234);

    const given = await giveTree(top, NOBODY);
    for (const path of [
      '',
      'spool',
      'spool/queue',
      'spool/queue/segment',
      'mail/example.com/alice/new/message',
      'users',
      'escape',
      'escape-dir',
      'theirs',
    ]) {
      assert.equal(await owner(join(top, path)), '65534:65534', path);
    }
    assert.equal(await owner(join(outside, 'shadow')), '0:0', 'a link is changed itself, never what it points to');
    assert.equal(await owner(outside), '0:0');
    assert.equal(await owner(join(outside, 'passwd')), '0:0', 'a file with two hard links is left alone');
    assert.deepEqual(given.linked, [join(top, 'twin')]);
    assert.equal(await owner(join(top, 'theirs', 'inside')), '0:0', 'a directory another user owned is not entered');
    assert.equal(((await stat(top)).mode & 0o777).toString(8), '700', 'modes are kept');

    assert.equal((await giveTree(top, NOBODY)).changed, 0, 'the second start changes nothing');
  } finally {
    await rm(top, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  }
});

test("in a tree the user already owns, only the top's own entries are given: nothing below them is walked", async () => {
  const top = await mkdtemp(join(tmpdir(), 'barge-give-'));
  try {
    await chown(top, NOBODY.uid, NOBODY.gid);
    await mkdir(join(top, 'dkim'), { mode: 0o700 });
    await writeFile(join(top, 'dkim', 'key.pem'), 'x', { mode: 0o600 });
    await writeFile(join(top, 'users'), 'x', { mode: 0o600 });
    const given = await giveTree(top, NOBODY);
    assert.equal(given.changed, 2);
    assert.equal(await owner(join(top, 'users')), '65534:65534');
    assert.equal(await owner(join(top, 'dkim')), '65534:65534');
    // The user could have swapped dkim/ for a link while the walk was inside: so it is not entered.
    assert.equal(await owner(join(top, 'dkim', 'key.pem')), '0:0');
  } finally {
    await rm(top, { recursive: true, force: true });
  }
});
