/**
 * Barge as a system service (docs/service.md): started as root with a user, it binds port 25 and the
 * console, then runs as that user for good (read from /proc) and owns its data directory; without a
 * user it warns; commands run as root act as the data directory's owner; readiness reaches systemd's
 * notification socket. The tests run as root.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmod, chown, copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../support/barge.js';
import { run } from '../support/peers.js';
import { mailOne, startChild } from '../support/service.js';
import { ROOT_WARNING } from '../../src/app/privileges.js';
import { usersPath } from '../../src/auth/users.js';

const BIN = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..', 'bin', 'barge.js');
const NOBODY = { uid: 65534, gid: 65534 };

/** A loopback address of its own (all of 127/8 is loopback on Linux), so port 25 is free there whatever else runs. */
const ownLoopback = (): string =>
  `127.${1 + Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.${2 + Math.floor(Math.random() * 250)}`;

/** The fields of one line of /proc/PID/status ("Uid", "Gid", "Groups", "CapEff"). */
async function procStatus(pid: number | undefined, name: string): Promise<string[]> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  return (new RegExp(`^${name}:(.*)$`, 'm').exec(text)?.[1] ?? '')
    .trim()
    .split(/\s+/)
    .filter((f) => f !== '');
}

function httpStatus(url: string): Promise<number | undefined> {
  return new Promise((resolve, reject) => get(url, (res) => resolve(res.resume().statusCode)).on('error', reject));
}

test('started as root with user set, Barge binds port 25 and the console, then runs as that user for good and owns its data', async () => {
  assert.equal(process.getuid?.(), 0, 'binding port 25 and changing user need root: the suite runs as root');
  const dataDir = await tempDir();
  // What root left there (an earlier run without `user`) becomes the user's too.
  await mkdir(join(dataDir, 'mail', 'example.test'), { recursive: true, mode: 0o700 });
  const config = join(dataDir, 'barge.toml');
  await writeFile(config, 'user = "nobody"\ngroup = "nogroup"\n', { mode: 0o644 });
  const host = ownLoopback();
  const args = [
    'serve',
    '--config',
    config,
    '--data-dir',
    dataDir,
    '--hostname',
    'barge.test',
    '--listen',
    `${host}:25`,
    '--admin-listen',
    `${host}:80`,
  ];
  const barge = startChild(process.execPath, [BIN, ...args]);
  try {
    await barge.waitFor(/console and \/metrics at/);
    const pid = barge.child.pid;
    for (const line of ['Uid', 'Gid'])
      assert.deepEqual(await procStatus(pid, line), ['65534', '65534', '65534', '65534'], `${line}: real, effective, saved, filesystem`);
    const groups = await procStatus(pid, 'Groups');
    assert.deepEqual(
      groups,
      execFileSync('id', ['-G', 'nobody'], { encoding: 'utf8' }).trim().split(' '),
      "the user's own supplementary groups",
    );
    assert.ok(!groups.includes('0'), "root's groups are gone");
    for (const caps of ['CapEff', 'CapPrm'])
      assert.deepEqual(await procStatus(pid, caps), ['0000000000000000'], `${caps}: no capability left`);
    assert.match(barge.log(), /barge: listeners bound as root; now running as user nobody \(uid 65534, gid 65534\), which owns /);
    assert.doesNotMatch(barge.log(), /running as root with no user set/);

    // Everything written after the drop is the user's: the Maildir file, the logs, the data directory.
    const { file, bytes } = await mailOne(host, 25, 'alice@barge.test', join(dataDir, 'mail'));
    assert.match(bytes.toString(), /One message\./);
    for (const path of [file, dataDir, join(dataDir, 'mail', 'example.test'), join(dataDir, 'spool'), join(dataDir, 'log')]) {
      const st = await stat(path);
      assert.deepEqual({ uid: st.uid, gid: st.gid }, NOBODY, path);
    }
    assert.equal(await httpStatus(`http://${host}:80/healthz`), 200, 'the console, bound before the drop, answers');

    // A reload reads the file again as the user.
    barge.child.kill('SIGHUP');
    await barge.waitFor(/barge: configuration reloaded/);
  } finally {
    assert.equal(await barge.stop(), 0, barge.log());
  }
});

test('started as root without a user, Barge warns that the whole server keeps root, and goes on', async () => {
  const dataDir = await tempDir();
  const barge = startChild(process.execPath, [BIN, 'serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--admin-listen', 'off']);
  try {
    await barge.waitFor(/listening on 127\.0\.0\.1:\d+/);
    await barge.waitFor(/running as root with no user set/);
    assert.ok(barge.log().split('\n').includes(ROOT_WARNING), barge.log());
    assert.deepEqual(await procStatus(barge.child.pid, 'Uid'), ['0', '0', '0', '0']);
  } finally {
    assert.equal(await barge.stop(), 0);
  }
});

test('a user that does not exist stops the start with a configuration error (exit 2)', async () => {
  const result = await run(process.execPath, [
    BIN,
    'serve',
    '--listen',
    '127.0.0.1:0',
    '--data-dir',
    await tempDir(),
    '--admin-listen',
    'off',
    '--user',
    'no-such-user-here',
  ]);
  assert.equal(result.code, 2);
  assert.equal(result.stderr, 'barge: configuration error: user "no-such-user-here": no such user\n');
});

test('a Node.js binary the user cannot run (under a directory closed to it) stops the start with one line saying so', async () => {
  const closed = await tempDir('barge-closed-');
  const node = join(closed, 'node');
  await copyFile(process.execPath, node);
  await chmod(node, 0o755);
  const result = await run(node, [
    BIN,
    'serve',
    '--listen',
    '127.0.0.1:0',
    '--data-dir',
    await tempDir(),
    '--admin-listen',
    'off',
    '--user',
    'nobody',
  ]);
  assert.equal(result.code, 2);
  assert.equal(
    result.stderr,
    `barge: configuration error: user nobody (uid 65534, gid 65534) cannot run ${node} (Barge runs Node.js again for short-lived children): install Node.js where that user can run it\n`,
  );
});

test('a command run as root on a data directory another user owns writes as that user', async () => {
  const dataDir = await tempDir();
  await chown(dataDir, NOBODY.uid, NOBODY.gid);
  const added = await run(
    process.execPath,
    [BIN, 'user', 'add', 'alice@barge.test', '--password-stdin', '--data-dir', dataDir],
    'a long password\n',
  );
  assert.equal(added.code, 0, added.stderr);
  const st = await stat(usersPath(dataDir));
  assert.deepEqual({ uid: st.uid, gid: st.gid }, NOBODY, 'the server, running as that user, can read the users it added');
});

test('with NOTIFY_SOCKET set (systemd Type=notify), READY=1 reaches the socket once the listeners are up', async () => {
  const dir = await tempDir();
  const socketPath = join(dir, 'notify');
  // A stand-in for systemd's notification socket: Python can bind a unix datagram socket, Node cannot.
  const receiver = spawn('python3', ['-c', RECEIVER, socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
  let received = '';
  receiver.stdout.on('data', (d: Buffer) => {
    received += d.toString();
  });
  const barge = startChild(
    process.execPath,
    [BIN, 'serve', '--listen', '127.0.0.1:0', '--data-dir', join(dir, 'var'), '--admin-listen', 'off'],
    {
      ...process.env,
      NOTIFY_SOCKET: socketPath,
    },
  );
  try {
    const deadline = Date.now() + 30_000;
    while (!received.includes('bound')) {
      if (Date.now() > deadline) throw new Error('the receiver did not bind');
      await new Promise((r) => setTimeout(r, 20));
    }
    const [, port] = await barge.waitFor(/listening on 127\.0\.0\.1:(\d+)/);
    while (!received.includes('READY=1')) {
      if (Date.now() > deadline) throw new Error(`no READY=1; received: ${received}; barge: ${barge.log()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.match(received, new RegExp(`READY=1\\\\nSTATUS=listening on 127\\.0\\.0\\.1:${port}`));
    assert.doesNotMatch(barge.log(), /could not tell systemd/);
  } finally {
    await barge.stop();
    receiver.kill();
  }
});

const RECEIVER = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print('bound', flush=True)
while True:
    print(repr(s.recv(4096)), flush=True)
`;
