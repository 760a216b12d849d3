/** What `barge serve` does about its identity, and how `user` and `group` are read and looked up. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lookUpAccount, planIdentity } from './privileges.js';
import { buildConfig } from '../config/validate.js';
import { ConfigError } from '../config/load.js';

const NOBODY = { name: 'nobody', uid: 65534, gid: 65534 };

test('root without a user is warned about; root with one becomes it; anyone else may only be who they are', () => {
  assert.deepEqual(planIdentity(undefined, { euid: 0, uid: 0, gid: 0 }), { kind: 'warn-root' });
  assert.deepEqual(planIdentity(undefined, { euid: 1000, uid: 1000, gid: 1000 }), { kind: 'stay' });
  assert.deepEqual(planIdentity({ user: 'nobody', group: undefined }, { euid: 0, uid: 0, gid: 0 }, NOBODY), {
    kind: 'become',
    account: NOBODY,
  });
  // systemd's User=barge with user = "barge" in the file: nothing to do.
  assert.deepEqual(planIdentity({ user: 'nobody', group: 'nogroup' }, { euid: 65534, uid: 65534, gid: 65534 }, NOBODY), { kind: 'stay' });
  const refused = planIdentity({ user: 'nobody', group: undefined }, { euid: 1000, uid: 1000, gid: 1000 }, NOBODY);
  assert.deepEqual(refused, {
    kind: 'refuse',
    reason: 'configured to run as user nobody, but running as uid 1000 gid 1000: only root can become another user',
  });
  assert.equal(
    planIdentity({ user: 'nobody', group: 'nogroup' }, { euid: 65534, uid: 65534, gid: 100 }, NOBODY).kind,
    'refuse',
    'the wrong group',
  );
});

test('user and group come from the password and group databases; a name that does not exist is a configuration error', () => {
  assert.deepEqual(lookUpAccount({ user: 'nobody', group: undefined }), NOBODY);
  assert.deepEqual(lookUpAccount({ user: 'nobody', group: 'root' }), { ...NOBODY, gid: 0 });
  assert.throws(
    () => lookUpAccount({ user: 'no-such-user-here', group: undefined }),
    (e: unknown) => e instanceof ConfigError && e.message === 'user "no-such-user-here": no such user',
  );
  assert.throws(() => lookUpAccount({ user: 'nobody', group: 'no-such-group-here' }), /group "no-such-group-here": no such group/);
});

test('user and group are read from the file, flags win, and a group alone or a bad name is refused', () => {
  const file = { text: 'user = "barge"\ngroup = "mail"\n', file: 'b.toml' };
  assert.deepEqual(buildConfig(file, {}, 'h').runAs, { user: 'barge', group: 'mail' });
  assert.deepEqual(buildConfig(file, { user: 'nobody', group: 'nogroup' }, 'h').runAs, { user: 'nobody', group: 'nogroup' });
  assert.equal(buildConfig(undefined, {}, 'h').runAs, undefined);
  assert.throws(() => buildConfig({ text: 'group = "mail"\n', file: 'b.toml' }, {}, 'h'), /group \(or --group\) needs user/);
  assert.throws(
    () => buildConfig({ text: 'user = "bad name"\n', file: 'b.toml' }, {}, 'h'),
    /b\.toml line 1: user: expected a user or group name, or a number/,
  );
  assert.throws(() => buildConfig(undefined, { user: '../x' }, 'h'), /--user\/--group: expected a user or group name/);
});
