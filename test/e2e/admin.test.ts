/**
 * The admin listener over real HTTP: /metrics counts what was received (parsed as Prometheus text),
 * the console shows nothing without a session, POSTs need the CSRF token, failed logins are rate
 * limited, mail-derived values are escaped, and reload keeps sessions in progress on the old settings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { get as httpsGet } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { isLoopback, startAdmin } from '../../src/admin/server.js';
import { join } from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { RawSmtp } from '../support/raw-client.js';
import { eventually, startBarge, tempDir } from '../support/barge.js';
import { ConsoleClient, startConsole, submit } from '../support/admin.js';
import { changeUser } from '../../src/auth/user-changes.js';
import { listEntries } from '../../src/queue/operations.js';
import { exited, spawnBarge } from '../support/crash.js';
import { run } from '../support/peers.js';
import { fileURLToPath } from 'node:url';

const BIN = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..', 'bin', 'barge.js');

const send = (
  port: number,
  method: 'BDAT' | 'DATA',
  chunks: readonly string[],
  helo = 'metrics.test',
  from = 'a@metrics.test',
): Promise<string> => submit(port, chunks, 'bob@localhost', { method, helo, from });

type Family = { name: string; metrics: Array<{ labels?: Record<string, string>; value?: string; count?: string }> };
const value = (families: Family[], name: string, labels: Record<string, string> = {}): number => {
  const f = families.find((x) => x.name === name);
  const m = f?.metrics.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v));
  return Number(m?.value ?? m?.count ?? Number.NaN);
};

test('/metrics counts BDAT and DATA messages, chunks and deliveries; health endpoints answer', async () => {
  const b = await startBarge();
  const admin = await startConsole(b);
  try {
    await send(b.port, 'BDAT', ['Subject: one\r\n\r\nhello\r\n']);
    await send(b.port, 'BDAT', ['Subject: two\r\n\r\n', 'second chunk\r\n', 'third chunk\r\n']);
    await send(b.port, 'BDAT', ['Subject: three\r\n\r\nhi\r\n']);
    await send(b.port, 'DATA', ['Subject: four\r\n\r\nhi\r\n']);
    await send(b.port, 'DATA', ['Subject: five\r\n\r\nhi\r\n']);
    const scrape = async (): Promise<Family[]> => parsePrometheusTextFormat(await (await fetch(`${admin.url}metrics`)).text()) as Family[];
    const families = await eventually(
      async () => {
        const f = await scrape();
        return value(f, 'barge_deliveries_total', { outcome: 'delivered', method: 'local' }) === 5 ? f : undefined;
      },
      10_000,
      'five local deliveries',
    );
    assert.equal(value(families, 'barge_messages_received_total', { listener: 'smtp', method: 'BDAT' }), 3);
    assert.equal(value(families, 'barge_messages_received_total', { listener: 'smtp', method: 'DATA' }), 2);
    assert.equal(value(families, 'barge_bdat_chunks_received_total', { listener: 'smtp' }), 5);
    assert.equal(value(families, 'barge_delivery_latency_seconds'), 5);
    assert.equal(value(families, 'barge_session_duration_seconds') >= 5, true);
    // Queue counts are at most 10 s old (counting a large queue reads its state files).
    for (const state of ['queued', 'deferred', 'held']) assert.ok(value(families, 'barge_queue_messages', { state }) >= 0, state);
    for (const name of [
      'barge_open_connections',
      'barge_queue_oldest_message_age_seconds',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_seconds',
    ]) {
      assert.ok(
        families.some((f) => f.name === name),
        `${name} exposed`,
      );
    }
    // A refused command is counted by its code.
    const c = await RawSmtp.connect(b.port);
    await c.reply();
    assert.equal((await c.command('MAIL FROM:<x@y.test>')).code, 503);
    c.close();
    await eventually(
      async () => (value(await scrape(), 'barge_smtp_refusals_total', { listener: 'smtp', code: '503' }) === 1 ? true : undefined),
      5000,
      'refusal counted',
    );
    assert.equal((await fetch(`${admin.url}healthz`)).status, 200);
    assert.equal(await (await fetch(`${admin.url}readyz`)).text(), 'ready\n');
  } finally {
    await admin.close();
    await b.stop();
  }
});

test('without a session the console shows only the login form; POSTs need the CSRF token; logins are rate limited', async () => {
  const b = await startBarge('[queue]\nhold = true');
  const admin = await startConsole(b);
  try {
    await send(b.port, 'BDAT', ['Subject: secret\r\n\r\nhi\r\n'], 'h.test', 'private@sender.test');
    const anon = new ConsoleClient(admin.url);
    for (const path of ['/', '/queue', '/tracking', '/log', '/destinations', '/listeners', '/users']) {
      const r = await anon.get(path);
      assert.equal(r.status, 303, path);
      assert.equal(r.location, '/login');
      assert.doesNotMatch(r.body, /private@sender/);
    }
    assert.equal((await anon.post('/queue/X/delete', {})).status, 403);
    // No admin yet: the one-time setup link leads in once, to the Users page.
    const link = new URL(admin.setupUrl ?? 'http://x/none');
    const setup = new ConsoleClient(admin.url);
    const first = await setup.get(link.pathname + link.search);
    assert.equal(first.location, '/users?setup=1');
    assert.match((await setup.get('/users?setup=1')).body, /add an administrator now/);
    assert.equal((await new ConsoleClient(admin.url).get(link.pathname + link.search)).status, 403);
    const added = await run(
      process.execPath,
      [BIN, 'user', 'add', 'root', '--admin', '--password-stdin', '--data-dir', b.dataDir],
      'correct horse\n',
    );
    assert.equal(added.stdout.trim(), 'added root (admin)', added.stderr);
    assert.match((await run(process.execPath, [BIN, 'user', 'list', '--data-dir', b.dataDir])).stdout, /^root \[admin\]$/m);
    assert.equal(await changeUser(b.dataDir, { action: 'add', name: 'mailuser', password: 'pw' }), undefined);
    // An AUTH user who is not an admin cannot log in.
    assert.equal((await anon.post('/login', { user: 'mailuser', password: 'pw' })).status, 401);
    const ok = new ConsoleClient(admin.url);
    const login = await ok.post('/login', { user: 'root', password: 'correct horse' });
    assert.equal(login.status, 303);
    assert.match(login.headers.get('set-cookie') ?? '', /HttpOnly; SameSite=Strict/);
    assert.match((await ok.get('/queue')).body, /private@sender\.test/);
    const id = /href="\/queue\/([0-9A-Z]+)"/.exec((await ok.get('/queue')).body)?.[1] ?? '';
    assert.equal((await ok.post(`/queue/${id}/hold`, { _csrf: 'forged' })).status, 403);
    const held = await ok.post(`/queue/${id}/hold`, {});
    assert.equal(held.status, 303);
    assert.match((await ok.get(`/queue/${id}`)).body, /pill warn">held/);
    // Five failures (the AUTH limit) from one address, then even the right password is refused. The
    // refused non-admin counts among them: a later success of someone else's does not wipe them out.
    const bad = new ConsoleClient(admin.url);
    for (let i = 0; i < 4; i++) assert.equal((await bad.post('/login', { user: 'root', password: 'wrong' })).status, 401);
    assert.equal((await bad.post('/login', { user: 'root', password: 'correct horse' })).status, 429);
  } finally {
    await admin.close();
    await b.stop();
  }
});

test('a hostile HELO name and sender render as text in queue, tracking and protocol log', async () => {
  const b = await startBarge(
    '[queue]\nhold = true\n[log]\nw3c_fields = ["time", "c-ip", "cs-username", "cs-method", "cs-uri-query", "sc-status"]',
  );
  const admin = await startConsole(b);
  try {
    const id = await send(
      b.port,
      'BDAT',
      ['Subject: x\r\n\r\nhi\r\n'],
      '<script>alert(1)</script>',
      '"<script>alert(2)</script>"@evil.test',
    );
    await changeUser(b.dataDir, { action: 'add', name: 'root', password: 'pw', admin: true });
    const c = new ConsoleClient(admin.url);
    await c.post('/login', { user: 'root', password: 'pw' });
    for (const path of [`/queue/${id}`, `/tracking/${id}`, '/tracking', '/log', '/queue']) {
      const page = (await c.get(path)).body;
      assert.doesNotMatch(page, /<script>alert/, path);
      assert.match(page, /&lt;script&gt;alert\([12]\)&lt;\/script&gt;/, path);
    }
  } finally {
    await admin.close();
    await b.stop();
  }
});

test('SIGHUP and barge reload: new sessions get the new verbs, a session in progress keeps the old, a bad config is refused', async () => {
  const dir = await tempDir();
  const file = join(dir, 'barge.toml');
  await writeFile(file, '# my settings\n[listener.smtp]\nlisten = "127.0.0.1:0"\n');
  const child = await spawnBarge(dir, ['--config', file]);
  try {
    const old = await RawSmtp.connect(child.port);
    await old.reply();
    assert.match((await old.command('EHLO old.test')).raw, /CHUNKING/);
    await writeFile(file, '# my settings\n[listener.smtp]\nlisten = "127.0.0.1:0"\nchunking = false\n');
    const r = await run(process.execPath, [BIN, 'reload', '--config', file, '--data-dir', dir]);
    assert.equal(r.code, 0, r.stderr);
    await eventually(async () => (/configuration reloaded/.test(child.log()) ? true : undefined), 10_000, 'reload logged');
    const fresh = await RawSmtp.connect(child.port);
    await fresh.reply();
    assert.doesNotMatch((await fresh.command('EHLO new.test')).raw, /CHUNKING/);
    assert.equal((await fresh.command('MAIL FROM:<a@x.test>')).code, 250);
    assert.equal((await fresh.command('RCPT TO:<bob@localhost>')).code, 250);
    assert.equal((await fresh.command('BDAT 4 LAST\r\nhi')).code, 500);
    fresh.close();
    // The session opened before the reload still has CHUNKING.
    await old.command('MAIL FROM:<a@x.test>');
    await old.command('RCPT TO:<bob@localhost>');
    assert.equal((await old.command('BDAT 4 LAST\r\nhi')).code, 250);
    old.close();
    // A bad file: barge reload says why and exits 2; SIGHUP keeps the running configuration.
    await writeFile(file, '[listener.smtp]\nchunking = "maybe"\n');
    const refused = await run(process.execPath, [BIN, 'reload', '--config', file, '--data-dir', dir]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /listener\.smtp\.chunking/);
    child.child.kill('SIGHUP');
    await eventually(
      async () => (/configuration refused, the running one stays: .*chunking/.test(child.log()) ? true : undefined),
      10_000,
      'refusal logged',
    );
    const after = await RawSmtp.connect(child.port);
    await after.reply();
    assert.doesNotMatch((await after.command('EHLO after.test')).raw, /CHUNKING/);
    after.close();
  } finally {
    child.child.kill('SIGTERM');
    await exited(child.child);
  }
});

test('beyond loopback the console speaks HTTPS with the SMTP certificate', async () => {
  assert.equal(isLoopback('127.0.0.1') && isLoopback('::1') && isLoopback('localhost'), true);
  assert.equal(isLoopback('0.0.0.0') || isLoopback('192.0.2.1'), false);
  const b = await startBarge();
  // Bound to every address, reached (as every test here) only over loopback.
  const admin = await startAdmin(
    { ...b.config, admin: { listen: { host: '0.0.0.0', port: 0 } } },
    {
      server: b.server,
      configFile: join(b.dataDir, 'console.toml'),
      check: async () => b.config,
      reload: async () => ({ ok: true, message: '' }),
    },
  );
  try {
    assert.match(admin.url, /^https:\/\/0\.0\.0\.0:\d+\/$/);
    const port = Number(new URL(admin.url).port);
    const { status, cert } = await new Promise<{ status: number; cert: string }>((resolve, reject) => {
      const req = httpsGet({ host: '127.0.0.1', port, path: '/healthz', rejectUnauthorized: false }, (res) => {
        const socket = res.socket as TLSSocket;
        resolve({ status: res.statusCode ?? 0, cert: socket.getPeerCertificate().fingerprint256 });
        res.resume();
      });
      req.once('error', reject);
    });
    assert.equal(status, 200);
    assert.equal(cert, new X509Certificate(b.server.tls?.pem.cert ?? '').fingerprint256);
  } finally {
    await admin.close();
    await b.stop();
  }
});

test('queue pages follow a cursor and filter by domain and state; hold, release and bounce work from the command line', async () => {
  const b = await startBarge('[queue]\nhold = true');
  try {
    const ids: string[] = [];
    for (const to of ['a@one.test', 'b@two.test', 'c@one.test'])
      ids.push(await submit(b.port, ['Subject: q\r\n\r\nhi\r\n'], to, { from: 'alice@localhost' }));
    const now = new Date();
    const first = await listEntries(b.server.spool, {}, undefined, 2, now);
    assert.deepEqual(
      first.entries.map((e) => e.id),
      ids.slice(0, 2),
    );
    const second = await listEntries(b.server.spool, {}, first.next, 2, now);
    assert.deepEqual(
      second.entries.map((e) => e.id),
      ids.slice(2),
    );
    assert.equal(second.next, undefined);
    assert.deepEqual(
      (await listEntries(b.server.spool, { domain: 'one.test' }, undefined, 10, now)).entries.map((e) => e.id),
      [ids[0], ids[2]],
    );
    assert.equal((await listEntries(b.server.spool, { olderThanMs: 3_600_000 }, undefined, 10, now)).entries.length, 0);
    const cli = (...args: string[]): ReturnType<typeof run> => run(process.execPath, [BIN, 'queue', ...args, '--data-dir', b.dataDir]);
    assert.equal((await cli('hold', ids[1] ?? '')).code, 0);
    assert.deepEqual(
      (await listEntries(b.server.spool, { kind: 'held' }, undefined, 10, now)).entries.map((e) => e.id),
      [ids[1]],
    );
    assert.match((await cli('list')).stdout, new RegExp(`${ids[1] ?? ''} .*HELD`));
    assert.equal((await cli('release', ids[1] ?? '')).code, 0);
    assert.equal((await listEntries(b.server.spool, { kind: 'held' }, undefined, 10, now)).entries.length, 0);
    // A bounce leaves a failure notice to the sender in the queue in its place.
    assert.equal((await cli('bounce', ids[0] ?? '')).code, 0);
    const left = await listEntries(b.server.spool, {}, undefined, 10, now);
    assert.equal(
      left.entries.some((e) => e.id === ids[0]),
      false,
    );
    const notice = left.entries.find((e) => e.envelope.transaction.from === '');
    assert.deepEqual(
      notice?.envelope.transaction.rcpts.map((r) => r.address),
      ['alice@localhost'],
    );
  } finally {
    await b.stop();
  }
});

test('Apply with a config file that cannot be read (a directory in its place) writes nothing and says why', async () => {
  const b = await startBarge();
  const admin = await startConsole(b);
  try {
    await mkdir(admin.configFile);
    await changeUser(b.dataDir, { action: 'add', name: 'root', password: 'pw', admin: true });
    const c = new ConsoleClient(admin.url);
    await c.post('/login', { user: 'root', password: 'pw' });
    await c.get('/listeners');
    // CHUNKING off: the switches sent leave it out.
    const r = await c.post('/listeners/smtp/apply', { ext: 'PIPELINING' });
    assert.equal(r.status, 303);
    const error = new URL(r.location ?? '', 'http://x').searchParams.get('error');
    assert.equal(error, `Not applied: cannot read ${admin.configFile}: is a directory (EISDIR)`);
    assert.ok((await stat(admin.configFile)).isDirectory());
    assert.deepEqual(await readdir(admin.configFile), [], 'nothing written');
    assert.equal(b.server.config().listeners[0]?.extensions.has('CHUNKING'), true, 'nothing reloaded');
  } finally {
    await admin.close();
    await b.stop();
  }
});
