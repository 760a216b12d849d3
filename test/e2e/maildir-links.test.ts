/**
 * Local delivery follows no symbolic link below the mail root: a mailbox whose new/ (or whose own
 * folder) is a link is not written through; the delivery is deferred with the reason and delivered
 * once the mailbox is fixed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, rename, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually, startBarge, tempDir } from '../support/barge.js';
import { submitBdat } from '../support/submit.js';
import { mailboxFolder } from '../../src/queue/maildir.js';
import { dataPaths } from '../../src/config/paths.js';

test('a symlinked new/ or mailbox folder is not followed: the delivery is deferred with the reason, then made once fixed', async () => {
  const b = await startBarge();
  const elsewhere = await tempDir('barge-elsewhere-');
  try {
    const mail = dataPaths(b.dataDir).mail;
    // bob's new/ points elsewhere; carol's whole mailbox folder does.
    const bob = mailboxFolder(mail, 'bob@localhost');
    for (const sub of ['tmp', 'cur']) await mkdir(join(bob, sub), { recursive: true });
    await symlink(elsewhere, join(bob, 'new'));
    await symlink(elsewhere, mailboxFolder(mail, 'carol@localhost'));
    const id = await submitBdat(b, 'bob@localhost', 'Subject: not through a link\r\n\r\nhi\r\n');
    const other = await submitBdat(b, 'carol@localhost', 'Subject: nor here\r\n\r\nhi\r\n');
    const deferred = await eventually(
      async () => {
        const events = (await b.tracking()).filter((e) => e.event === 'deferred');
        return events.length === 2 ? events : undefined;
      },
      10_000,
      'both deliveries deferred',
    );
    const reasonOf = (queued: string): string => {
      const e = deferred.find((x) => x.event === 'deferred' && x.id === queued);
      return e?.event === 'deferred' ? e.reason : '';
    };
    assert.equal(
      reasonOf(id),
      `local delivery failed: mailbox path ${join(bob, 'new')} is a symbolic link: not followed below the mail root ${mail}`,
    );
    assert.match(reasonOf(other), /mailbox path .*\/localhost\/carol is a symbolic link/);
    assert.deepEqual(await readdir(elsewhere), [], "nothing appeared at the link's target");
    assert.equal((await b.tracking()).filter((e) => e.event === 'bounced').length, 0, 'deferred, not bounced');
    // The administrator fixes bob's mailbox; the retry delivers into the real new/.
    await rename(join(bob, 'new'), join(bob, 'was-a-link'));
    await mkdir(join(bob, 'new'));
    await b.server.runner.scan('localhost');
    await eventually(async () => ((await b.mailbox('bob@localhost')).length === 1 ? true : undefined), 10_000, 'delivery after the fix');
    assert.deepEqual(await readdir(elsewhere), []);
  } finally {
    await b.stop();
  }
});
