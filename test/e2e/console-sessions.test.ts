/**
 * Console sessions follow the users file and the clock: a removed or demoted administrator loses
 * access on the next request, a password change ends the user's other sessions, every session ends
 * 12 h after its login however busy; the setup link stops working once an administrator exists;
 * and the failed-login limit holds against 50 logins at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBarge, type TestBarge } from '../support/barge.js';
import { ConsoleClient, startConsole, type HttpResult } from '../support/admin.js';
import type { RunningAdmin } from '../../src/admin/server.js';
import { run } from '../support/peers.js';
import { changeUser } from '../../src/auth/user-changes.js';
import { UserStore, updateUsers, usersPath } from '../../src/auth/users.js';
import type { Clock } from '../../src/time/clock.js';
import { clockAt } from '../support/virtual-clock.js';

const BIN = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..', 'bin', 'barge.js');

/** `barge user ...` as an administrator would run it, the password on stdin. */
const barge = (dataDir: string, args: readonly string[], stdin = ''): ReturnType<typeof run> =>
  run(process.execPath, [BIN, 'user', ...args, '--data-dir', dataDir], stdin);

async function loggedIn(url: string, user: string, password: string): Promise<ConsoleClient> {
  const c = new ConsoleClient(url);
  assert.equal((await c.post('/login', { user, password })).status, 303, `${user} logs in`);
  assert.equal((await c.get('/users')).status, 200);
  return c;
}

const outside = (r: HttpResult): boolean => r.status === 303 && r.location === '/login';

/** A Barge with its console for the length of `body`, on `clock` when given. */
async function withConsole(body: (b: TestBarge, admin: RunningAdmin) => Promise<void>, clock?: Clock): Promise<void> {
  const b = await startBarge();
  const admin = await startConsole(b, clock);
  try {
    await body(b, admin);
  } finally {
    await admin.close();
    await b.stop();
  }
}

test('a removed administrator is out at once: the next page is the login form and a POST adds no one', async () => {
  await withConsole(async (b, admin) => {
    await changeUser(b.dataDir, { action: 'add', name: 'alice', password: 'pw-alice', admin: true });
    await changeUser(b.dataDir, { action: 'add', name: 'mallory', password: 'pw-mallory', admin: true });
    const mallory = await loggedIn(admin.url, 'mallory', 'pw-mallory');
    const alice = await loggedIn(admin.url, 'alice', 'pw-alice');
    const removed = await barge(b.dataDir, ['del', 'mallory']);
    assert.equal(removed.code, 0, removed.stderr);
    assert.ok(outside(await mallory.get('/')));
    // Her form, with the CSRF token of a page she had open, is refused too.
    const added = await mallory.post('/users/add', { name: 'backdoor', password: 'x', admin: 'on' });
    assert.equal(added.status, 403);
    assert.equal((await UserStore.load(usersPath(b.dataDir))).get('backdoor'), undefined);
    // Logging in again does not work either; the other administrator is not affected.
    assert.equal((await new ConsoleClient(admin.url).post('/login', { user: 'mallory', password: 'pw-mallory' })).status, 401);
    assert.equal((await alice.get('/queue')).status, 200);
    // Demoted: still an AUTH user, no longer an administrator.
    await updateUsers(usersPath(b.dataDir), (all) =>
      all.map((u) => (u.name === 'alice' ? { name: u.name, hash: u.hash, addresses: u.addresses } : u)),
    );
    assert.ok(outside(await alice.get('/queue')));
  });
});

test('a password change ends the sessions begun under the old password; the changer keeps hers', async () => {
  await withConsole(async (b, admin) => {
    await changeUser(b.dataDir, { action: 'add', name: 'alice', password: 'old', admin: true });
    const here = await loggedIn(admin.url, 'alice', 'old');
    const there = await loggedIn(admin.url, 'alice', 'old');
    const changed = await here.post('/users/passwd', { name: 'alice', password: 'new' });
    assert.match(changed.location ?? '', /^\/users\?msg=Changed\+the\+password\+of\+alice$/);
    assert.equal((await here.get(changed.location ?? '')).status, 200);
    assert.ok(outside(await there.get('/users')));
    // From the command line, every session of hers ends.
    const again = await barge(b.dataDir, ['passwd', 'alice', '--password-stdin'], 'newer\n');
    assert.equal(again.code, 0, again.stderr);
    assert.ok(outside(await here.get('/users')));
    await loggedIn(admin.url, 'alice', 'newer');
  });
});

test('a session ends 8 h after its last use and 12 h after its login, however busy (injected clock)', async () => {
  let t = Date.parse('2030-01-01T00:00:00Z');
  await withConsole(
    async (b, admin) => {
      await changeUser(b.dataDir, { action: 'add', name: 'alice', password: 'pw', admin: true });
      const busy = await loggedIn(admin.url, 'alice', 'pw');
      const idle = await loggedIn(admin.url, 'alice', 'pw');
      // Used every 7 h 59 min: never idle for 8 h.
      t += 7 * 3_600_000 + 59 * 60_000;
      assert.equal((await busy.get('/')).status, 200);
      t += 2 * 60_000;
      assert.ok(outside(await idle.get('/')), 'idle for 8 h 1 min');
      t += 4 * 3_600_000 - 2 * 60_000;
      assert.equal((await busy.get('/')).status, 200, '11 h 59 min after login');
      t += 2 * 60_000;
      assert.ok(outside(await busy.get('/')), '12 h 1 min after login');
    },
    clockAt(() => new Date(t)),
  );
});

test('the setup link is refused once `barge user add --admin` made an administrator, and its session ends then', async () => {
  const b = await startBarge();
  const first = await startConsole(b);
  const second = await startConsole(b);
  try {
    // One console's link is used while no administrator exists; the other's is kept for later.
    const used = new URL(first.setupUrl ?? 'http://x/none');
    const kept = new URL(second.setupUrl ?? 'http://x/none');
    const setup = new ConsoleClient(first.url);
    assert.equal((await setup.get(used.pathname + used.search)).location, '/users?setup=1');
    assert.equal((await setup.get('/users')).status, 200);
    const added = await barge(b.dataDir, ['add', 'root', '--admin', '--password-stdin'], 'correct horse\n');
    assert.equal(added.stdout.trim(), 'added root (admin)', added.stderr);
    const late = await new ConsoleClient(second.url).get(kept.pathname + kept.search);
    assert.equal(late.status, 403);
    assert.match(late.body, /used already or has expired/);
    assert.equal(late.headers.get('set-cookie'), null);
    assert.ok(outside(await setup.get('/users')), 'the setup session ended');
  } finally {
    await Promise.all([first.close(), second.close()]);
    await b.stop();
  }
});

test('the setup session that adds the first administrator ends there and sends her to the login form', async () => {
  await withConsole(async (_b, admin) => {
    const link = new URL(admin.setupUrl ?? 'http://x/none');
    const setup = new ConsoleClient(admin.url);
    await setup.get(link.pathname + link.search);
    await setup.get('/users?setup=1');
    const added = await setup.post('/users/add', { name: 'root', password: 'pw', admin: 'on' });
    assert.equal(added.location, '/login?added=1');
    assert.match((await setup.get('/login?added=1')).body, /The administrator was added: log in as that user/);
    assert.ok(outside(await setup.get('/users')));
    await loggedIn(admin.url, 'root', 'pw');
  });
});

test('50 logins at once from one address: at most 5 passwords are checked, the rest get 429; then the right one is refused too', async () => {
  await withConsole(async (b, admin) => {
    await changeUser(b.dataDir, { action: 'add', name: 'root', password: 'right', admin: true });
    const storm = async (rightAt: number): Promise<HttpResult[]> =>
      Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          new ConsoleClient(admin.url).post('/login', { user: 'root', password: i === rightAt ? 'right' : `wrong${i}` }),
        ),
      );
    const first = await storm(49);
    const count = (rs: HttpResult[], status: number): number => rs.filter((r) => r.status === status).length;
    const checked = count(first, 401) + count(first, 303);
    const summary = `401: ${count(first, 401)}, 303: ${count(first, 303)}, 429: ${count(first, 429)}`;
    console.log(`# 50 logins at once: ${summary}`);
    assert.ok(checked <= 5, `${checked} passwords checked (${summary})`);
    assert.ok(count(first, 429) >= 45, summary);
    assert.equal(checked + count(first, 429), 50, summary);
    // Any session given must have come from a check within the limit: none when 5 wrong ones were checked first.
    if (count(first, 401) === 5) assert.equal(count(first, 303), 0, summary);
    // The limit reached, a second storm with the right password in the middle gets no session at all.
    const second = await storm(25);
    assert.equal(count(second, 429), 50);
    assert.ok(second.every((r) => r.headers.get('set-cookie') === null));
    assert.equal((await new ConsoleClient(admin.url).post('/login', { user: 'root', password: 'right' })).status, 429);
  });
});
