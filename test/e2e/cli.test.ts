/** The command line: `barge queue list|show` read a server's queue; bad configuration exits 2. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { exited, spawnBarge } from '../support/crash.js';
import type { EntryState } from '../../src/queue/runner.js';
import { RawSmtp } from '../support/raw-client.js';
import { eventually, startBarge, tempDir } from '../support/barge.js';
import { run } from '../support/peers.js';

const BIN = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..', 'bin', 'barge.js');
const barge = (...args: string[]): ReturnType<typeof run> => run(process.execPath, [BIN, ...args]);

test('queue list and queue show describe a queued relay message', async () => {
  const server = await startBarge('[queue]\nhold = true');
  try {
    const c = await RawSmtp.connect(server.port);
    await c.reply();
    await c.command('EHLO cli.test');
    await c.send('MAIL FROM:<a@cli.test>\r\nRCPT TO:<x@remote.example>\r\nBDAT 13 LAST\r\nSubject: q\r\n\r\n');
    const replies = await c.replies(3);
    const id = /queued as ([0-9A-Z]+)/.exec(replies[2]?.lines[0] ?? '')?.[1];
    assert.ok(id !== undefined, replies[2]?.raw);
    c.close();
    const list = await barge('queue', 'list', '--data-dir', server.dataDir);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`^${id} .* 13 bytes {2}<a@cli\\.test> {2}BDAT/1$`, 'm'));
    assert.match(list.stdout, /x@remote\.example {2}relay {2}attempts 0/);
    assert.match(list.stdout, /^1 message\(s\) in the queue$/m);
    const show = await barge('queue', 'show', id, '--data-dir', server.dataDir);
    assert.equal(show.code, 0, show.stderr);
    const parsed = JSON.parse(show.stdout) as { envelope: { transaction: { from: string } } };
    assert.equal(parsed.envelope.transaction.from, 'a@cli.test');
    assert.equal((await barge('queue', 'show', 'NOSUCHID', '--data-dir', server.dataDir)).code, 1);
  } finally {
    await server.stop();
  }
});

test('queue list pages with --limit and --after; retry goes through the running server and its runner takes the entry', async () => {
  const server = await startBarge('[routes]\n"remote.example" = "127.0.0.1:1"');
  try {
    const ids: string[] = [];
    const c = await RawSmtp.connect(server.port);
    await c.reply();
    await c.command('EHLO cli.test');
    // Relay mail to a closed port is deferred: it stays queued with a retry time.
    for (let i = 0; i < 3; i++) {
      const body = 'Subject: q\r\n\r\nhi\r\n';
      await c.send(`MAIL FROM:<a@cli.test>\r\nRCPT TO:<x${i}@remote.example>\r\nBDAT ${body.length} LAST\r\n${body}`);
      ids.push(/queued as ([0-9A-Z]+)/.exec((await c.replies(3))[2]?.lines[0] ?? '')?.[1] ?? '');
    }
    c.close();
    const first = await barge('queue', 'list', '--limit', '2', '--data-dir', server.dataDir);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(
      [...first.stdout.matchAll(/^([0-9A-Z]{12,}) /gm)].map((m) => m[1]),
      ids.slice(0, 2),
    );
    assert.match(first.stdout, new RegExp(`^3 message\\(s\\) in the queue; more with --after ${ids[1] ?? ''}$`, 'm'));
    const second = await barge('queue', 'list', '--after', ids[1] ?? '', '--data-dir', server.dataDir);
    assert.deepEqual(
      [...second.stdout.matchAll(/^([0-9A-Z]{12,}) /gm)].map((m) => m[1]),
      ids.slice(2),
    );
    assert.equal((await barge('queue', 'list', '--limit', 'none', '--data-dir', server.dataDir)).code, 2);
    const attempts = async (): Promise<number> => (await server.tracking()).filter((e) => e.event === 'deferred' && e.id === ids[0]).length;
    const before = await eventually(async () => ((await attempts()) > 0 ? attempts() : undefined), 10_000, 'the first attempt');
    // The attempt is tracked just before its state (with the retry time) is written: wait for the state.
    await eventually(
      async () => ((await server.server.spool.readState<EntryState>(ids[0] ?? ''))?.rcpts[0]?.nextAttempt === undefined ? undefined : true),
      10_000,
      'the retry time',
    );
    const retry = await barge('queue', 'retry', ids[0] ?? '', '--data-dir', server.dataDir);
    assert.equal(retry.code, 0, retry.stderr);
    await eventually(
      async () => ((await attempts()) > before ? true : undefined),
      10_000,
      'an attempt right after the retry, not at a scan',
    );
  } finally {
    await server.stop();
  }
});

test('a bad configuration file exits 2 and names the key and line', async () => {
  const file = join(await tempDir(), 'barge.toml');
  await writeFile(file, '[limits]\nmax_errors = 0\n');
  const r = await barge('serve', '--config', file);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /barge\.toml line 2: limits\.max_errors/);
  assert.equal((await barge('frobnicate')).code, 2);
  assert.equal((await barge('options', 'encode', '--without', 'CHUNKING,BINARYMIME')).stdout.trim(), '4551873');
});

test('barge send submits stdin to the running server (recipients from -t, parsed as address lists) and prints the queue id', async () => {
  const server = await startBarge();
  try {
    // A quoted display name with a comma and an address in it, a folded group: only the real addresses count.
    const message =
      'Subject: sent\r\nTo: "a@b.example, Sales" <bob@localhost>\r\nCc: Team: carol@localhost,\r\n dave@localhost (Dave, ops);\r\n\r\nhello\r\n';
    const r = await run(process.execPath, [BIN, 'send', '-t', '--from', 'a@localhost', '--server', `127.0.0.1:${server.port}`], message);
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    assert.match(id, /^[0-9A-Z]+$/);
    const received = (await server.tracking()).find((e) => e.event === 'received');
    assert.ok(received?.event === 'received');
    assert.equal(received.id, id);
    assert.equal(received.method, 'BDAT');
    assert.deepEqual([...received.rcpts].sort(), ['bob@localhost', 'carol@localhost', 'dave@localhost']);
  } finally {
    await server.stop();
  }
});

test('barge send --server takes an IPv6 address in brackets ([::1]:PORT)', async () => {
  const server = await startBarge('', { listen: ['[::1]:0'] });
  try {
    const r = await run(
      process.execPath,
      [BIN, 'send', '--from', 'a@localhost', '--to', 'bob@localhost', '--server', `[::1]:${server.port}`],
      'Subject: v6\r\n\r\nhi\r\n',
    );
    assert.equal(r.code, 0, r.stderr);
    const received = (await server.tracking()).find((e) => e.event === 'received');
    assert.ok(received?.event === 'received');
    assert.equal(received.id, r.stdout.trim());
    assert.equal(received.clientIp, '::1');
    const bad = await run(
      process.execPath,
      [BIN, 'send', '--from', 'a@localhost', '--to', 'bob@localhost', '--server', '[::1:2525'],
      'hi\r\n',
    );
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--server wants HOST\[:PORT\]/);
  } finally {
    await server.stop();
  }
});

test('barge send --data-dir writes into the spool of a stopped server', async () => {
  const dir = await tempDir();
  const r = await run(
    process.execPath,
    [BIN, 'send', '--from', 'a@localhost', '--to', 'bob@remote.example', '--data-dir', dir],
    'Subject: direct\r\n\r\nhi\r\n',
  );
  assert.equal(r.code, 0, r.stderr);
  const id = r.stdout.trim();
  const list = await barge('queue', 'list', '--data-dir', dir);
  assert.match(list.stdout, new RegExp(`^${id} .*<a@localhost>`, 'm'));
  assert.match(list.stdout, /bob@remote\.example {2}relay/);
});

test('barge user add|passwd|list|del keep scrypt hashes in a 0600 file, never the password', async () => {
  const dir = await tempDir();
  const withInput = (input: string, ...args: string[]): ReturnType<typeof run> =>
    run(process.execPath, [BIN, 'user', ...args, '--data-dir', dir], input);
  const added = await withInput('first-pass\n', 'add', 'Alice@Example.test', '--password-stdin', '--address', '@alias.test');
  assert.equal(added.code, 0, added.stderr);
  assert.match(added.stdout, /^added alice@example\.test$/m);
  assert.equal((await withInput('x\n', 'add', 'alice@example.test', '--password-stdin')).code, 1, 'a second add is refused');
  assert.equal((await withInput('\n', 'add', 'bob@example.test', '--password-stdin')).code, 2, 'an empty password is refused');
  const { readFile, stat } = await import('node:fs/promises');
  const file = join(dir, 'users');
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  const text = await readFile(file, 'utf8');
  assert.doesNotMatch(text, /first-pass/);
  assert.match(text, /^alice@example\.test:scrypt\$16384\$8\$1\$[^:]+:@alias\.test$/m);
  const { UserStore } = await import('../../src/auth/users.js');
  assert.ok((await (await UserStore.load(file)).verify('alice@example.test', 'first-pass')) !== undefined);
  assert.equal((await withInput('second-pass\n', 'passwd', 'alice@example.test', '--password-stdin')).code, 0);
  const store = await UserStore.load(file);
  assert.equal(await store.verify('alice@example.test', 'first-pass'), undefined);
  assert.ok((await store.verify('alice@example.test', 'second-pass')) !== undefined);
  assert.match((await barge('user', 'list', '--data-dir', dir)).stdout, /^alice@example\.test \(also @alias\.test\)$/m);
  assert.equal((await barge('user', 'del', 'alice@example.test', '--data-dir', dir)).code, 0);
  assert.equal((await barge('user', 'del', 'alice@example.test', '--data-dir', dir)).code, 1);
});

test('barge routes lists routes and learnt quirks, and clear forgets them', async () => {
  const dir = await tempDir();
  const { QuirkStore, quirksPath } = await import('../../src/client/quirks.js');
  const store = await QuirkStore.open(quirksPath(dir));
  await store.remember('192.0.2.7:25', 'no-bdat', 'BDAT answered "500 5.5.1" although CHUNKING was advertised', 3_600_000);
  const list = await barge('routes', '--data-dir', dir, '--route', 'example.test=192.0.2.7:25');
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^route example\.test -> 192\.0\.2\.7:25$/m);
  assert.match(list.stdout, /^quirk 192\.0\.2\.7:25 no-bdat until \S+: BDAT answered/m);
  const cleared = await barge('routes', 'clear', '192.0.2.7', '--data-dir', dir);
  assert.match(cleared.stdout, /cleared 1 quirk for 192\.0\.2\.7/);
  assert.match((await barge('routes', '--data-dir', dir)).stdout, /no path quirks remembered/);
});

/** The lines of a failed start that are not the usual start-up lines. */
const problems = (stderr: string): string[] =>
  stderr.split('\n').filter((l) => l !== '' && !/^barge: (spool recovered|listening on|local domains|STARTTLS with|stopping)/.test(l));

test('a second barge serve whose console address is taken exits 1 with one line naming the address and the setting', async () => {
  const first = await spawnBarge(await tempDir(), ['--admin-listen', '127.0.0.1:0']);
  try {
    const url = await eventually(
      async () => /console and \/metrics at (http:\/\/127\.0\.0\.1:\d+)\//.exec(first.log())?.[1],
      10_000,
      'the console',
    );
    const port = new URL(url).port;
    const second = await barge(
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--data-dir',
      await tempDir(),
      '--hostname',
      'second.test',
      '--admin-listen',
      `127.0.0.1:${port}`,
    );
    assert.equal(second.code, 1, second.stderr);
    assert.deepEqual(problems(second.stderr), [
      `barge: cannot listen on 127.0.0.1:${port} (the console, [admin] listen or --admin-listen): address already in use (EADDRINUSE)`,
    ]);
    assert.doesNotMatch(second.stderr, /^\s+at /m, 'no stack trace');
    // The first server was not disturbed.
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
  } finally {
    first.child.kill('SIGTERM');
    await exited(first.child);
  }
});

test('an SMTP listener address in use is one line naming it and the setting, exit 1', async () => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const address = taken.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  try {
    const r = await barge(
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--listen',
      `127.0.0.1:${port}`,
      '--data-dir',
      await tempDir(),
      '--admin-listen',
      'off',
    );
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(problems(r.stderr), [
      `barge: cannot listen on 127.0.0.1:${port} (listener smtp-2, [listener.smtp-2] listen or --listen): address already in use (EADDRINUSE)`,
    ]);
  } finally {
    taken.close();
  }
});

test('a missing DKIM key or certificate stops barge serve (and barge reload) with one line naming the file (exit 2), not a stack trace', async () => {
  const dir = await tempDir();
  const file = join(dir, 'barge.toml');
  await writeFile(
    file,
    `data_dir = "${dir}"\n[listener.smtp]\nlisten = "127.0.0.1:0"\n[dkim."example.test"]\nselector = "s1"\nkey = "dkim/missing.pem"\n`,
  );
  const dkim = await barge('serve', '--config', file, '--admin-listen', 'off');
  assert.equal(dkim.code, 2, dkim.stderr);
  assert.deepEqual(problems(dkim.stderr), [
    `barge: configuration error: dkim.example.test: cannot read the key ${join(dir, 'dkim', 'missing.pem')}: no such file or directory (ENOENT)`,
  ]);
  // barge reload checks the same before it signals a server.
  const reload = await barge('reload', '--config', file);
  assert.equal(reload.code, 2, reload.stderr);
  assert.match(reload.stderr, /^barge: configuration error: dkim\.example\.test: cannot read the key .*missing\.pem/);
  await writeFile(
    file,
    `data_dir = "${dir}"\n[listener.smtp]\nlisten = "127.0.0.1:0"\n[tls]\ncert = "${dir}/none.crt"\nkey = "${dir}/none.key"\n`,
  );
  const tls = await barge('serve', '--config', file, '--admin-listen', 'off');
  assert.equal(tls.code, 2, tls.stderr);
  assert.deepEqual(problems(tls.stderr), [
    `barge: configuration error: tls.cert: cannot read ${dir}/none.crt: no such file or directory (ENOENT)`,
  ]);
});
