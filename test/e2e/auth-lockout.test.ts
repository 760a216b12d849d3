/**
 * The AUTH failure limit holds under concurrency: parallel attempts from one IP are counted before
 * any password is hashed, so at most `max_failures` (default 5) are checked, the rest get 454 4.7.0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawSmtp } from '../support/raw-client.js';
import { startBarge, tempDir } from '../support/barge.js';
import { hashPassword, updateUsers, usersPath } from '../../src/auth/users.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

test('50 concurrent wrong passwords from one IP: at most 5 are checked (535 5.7.8), the rest get 454 4.7.0', async () => {
  const dir = await tempDir();
  const hash = await hashPassword('s3cret');
  await updateUsers(usersPath(dir), () => [{ name: 'alice@example.test', hash, addresses: [] }]);
  const barge = await startBarge('[listener.smtp]\nauth_cleartext = true\n', { queueOnly: true }, dir);
  try {
    const clients = await Promise.all(
      Array.from({ length: 50 }, async () => {
        const c = await RawSmtp.connect(barge.port);
        await c.reply();
        assert.equal((await c.command('EHLO client.test')).code, 250);
        return c;
      }),
    );
    // All 50 attempts leave at once, each in one write.
    await Promise.all(clients.map((c) => c.send(`AUTH PLAIN ${b64('\0alice@example.test\0wrong')}\r\n`)));
    const replies = await Promise.all(clients.map((c) => c.reply(60_000)));
    const codes = replies.map((r) => `${r.code} ${(r.lines[0] ?? '').split(' ')[0] ?? ''}`);
    const checked = codes.filter((c) => c === '535 5.7.8').length;
    const held = codes.filter((c) => c === '454 4.7.0').length;
    assert.ok(checked <= 5, `${checked} passwords were checked: ${codes.join(', ')}`);
    assert.equal(checked + held, 50, codes.join(', '));
    for (const c of clients) c.close();
  } finally {
    await barge.stop();
  }
});
