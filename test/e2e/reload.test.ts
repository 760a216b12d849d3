/**
 * Reload: the files a configuration names are checked before anything changes (a missing DKIM key
 * or certificate refuses the reload, naming the file, and the running configuration stays); a new
 * certificate and new DKIM keys apply live; the report names the settings that need a restart; and
 * reloads of one server run one after the other.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildConfig } from '../../src/config/validate.js';
import type { Config } from '../../src/config/types.js';
import { reloadServer } from '../../src/app/reload.js';
import { generateSelfSigned } from '../../src/server/tls.js';
import { generateDkimKey } from '../../src/mailauth/dkim-keys.js';
import { RawSmtp } from '../support/raw-client.js';
import { eventually, startBarge, tempDir, TEST_HOSTNAME, type TestBarge } from '../support/barge.js';
import { submitBdat } from '../support/submit.js';

/** The configuration `text` gives with the flags startBarge used. */
const configOf = (b: TestBarge, text: string): Config =>
  buildConfig({ text, file: 'test.toml' }, { listen: ['127.0.0.1:0'], dataDir: b.dataDir }, TEST_HOSTNAME);
const reloadWith = (b: TestBarge, text: string): ReturnType<typeof reloadServer> => reloadServer(b.server, async () => configOf(b, text));

async function pair(dir: string, name: string): Promise<{ cert: string; key: string; toml: string }> {
  const pem = await generateSelfSigned(`${name}.test`);
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  await writeFile(cert, pem.cert);
  await writeFile(key, pem.key);
  return { cert, key, toml: `[tls]\ncert = "${cert}"\nkey = "${key}"\n` };
}

/** The SHA-256 fingerprint of the certificate a new STARTTLS session is shown. */
async function certificateSeen(port: number): Promise<{ fingerprint: string; client: RawSmtp }> {
  const c = await RawSmtp.connect(port);
  await c.reply();
  await c.command('EHLO tls.test');
  assert.equal((await c.command('STARTTLS')).code, 220);
  const { socket } = await c.startTls();
  return { fingerprint: socket.getPeerX509Certificate()?.fingerprint256 ?? '', client: c };
}

test('a missing DKIM key or certificate refuses the reload, naming the file; the running configuration stays', async () => {
  const b = await startBarge('[limits]\nmax_recipients = 100\n');
  try {
    const missingKey = join(b.dataDir, 'dkim', 'none.pem');
    const dkim = await reloadWith(b, '[limits]\nmax_recipients = 5\n[dkim."example.test"]\nselector = "s1"\nkey = "dkim/none.pem"\n');
    assert.deepEqual(dkim, {
      ok: false,
      message: `configuration refused, the running one stays: dkim.example.test: cannot read the key ${missingKey}: no such file or directory (ENOENT)`,
    });
    const garbage = join(b.dataDir, 'garbage.pem');
    await writeFile(garbage, 'not a key\n');
    const bad = await reloadWith(b, `[dkim."example.test"]\nselector = "s1"\nkey = "${garbage}"\n`);
    assert.match(
      bad.message,
      new RegExp(`^configuration refused, the running one stays: dkim\\.example\\.test: ${garbage} is not a private key in PEM or DER`),
    );
    const cert = await reloadWith(
      b,
      `[limits]\nmax_recipients = 5\n[tls]\ncert = "${b.dataDir}/none.crt"\nkey = "${b.dataDir}/none.key"\n`,
    );
    assert.deepEqual(cert, {
      ok: false,
      message: `configuration refused, the running one stays: tls.cert: cannot read ${b.dataDir}/none.crt: no such file or directory (ENOENT)`,
    });
    // A certificate with another certificate's key.
    const [one, two] = [await pair(b.dataDir, 'one'), await pair(b.dataDir, 'two')];
    const mismatch = await reloadWith(b, `[tls]\ncert = "${one.cert}"\nkey = "${two.key}"\n`);
    assert.match(
      mismatch.message,
      /^configuration refused, the running one stays: tls\.cert .*one\.crt and tls\.key .*two\.key: not a usable certificate and private key/,
    );
    assert.equal(b.server.config().limits.maxRecipients, 100, 'the running configuration stays');
    const c = await RawSmtp.connect(b.port);
    await c.reply();
    await c.command('EHLO still.test');
    await c.command('MAIL FROM:<a@still.test>');
    for (let i = 0; i < 6; i++) assert.equal((await c.command(`RCPT TO:<r${i}@localhost>`)).code, 250, 'the old limit of 100 applies');
    c.close();
  } finally {
    await b.stop();
  }
});

test('a new certificate applies live: a new connection sees it, one secured before keeps working', async () => {
  const dir = await tempDir();
  const [first, second] = [await pair(dir, 'first'), await pair(dir, 'second')];
  const b = await startBarge(first.toml);
  try {
    const fingerprint = async (file: string): Promise<string> => new X509Certificate(await readFile(file)).fingerprint256;
    const before = await certificateSeen(b.port);
    assert.equal(before.fingerprint, await fingerprint(first.cert));
    const r = await reloadWith(b, second.toml);
    assert.equal(r.ok, true, r.message);
    assert.equal(r.message, `configuration reloaded; TLS: certificate ${second.cert}`);
    const after = await certificateSeen(b.port);
    assert.equal(after.fingerprint, await fingerprint(second.cert));
    assert.equal((await before.client.command('EHLO again.test')).code, 250, 'the earlier session goes on');
    before.client.close();
    after.client.close();
  } finally {
    await b.stop();
  }
});

test('new DKIM keys apply live: a message taken after the reload is signed with them', async () => {
  const b = await startBarge('[queue]\nscan_interval = "1h"\n[routes]\n"remote.test" = "127.0.0.1:1"\n');
  try {
    const message = 'From: Alice <alice@example.test>\r\nSubject: sign me\r\n\r\nhi\r\n';
    const first = await submitBdat(b, 'bob@remote.test', message);
    await eventually(async () => (await b.tracking()).find((e) => e.event === 'deferred' && e.id === first), 10_000, 'the first attempt');
    assert.equal((await b.tracking()).filter((e) => e.event === 'signed').length, 0, 'no key yet');
    await generateDkimKey(join(b.dataDir, 'dkim', 'example.test.s2026.pem'), 'ed25519');
    const r = await reloadWith(
      b,
      '[queue]\nscan_interval = "1h"\n[routes]\n"remote.test" = "127.0.0.1:1"\n[dkim."example.test"]\nselector = "s2026"\nkey = "dkim/example.test.s2026.pem"\n',
    );
    assert.equal(r.ok, true, r.message);
    const second = await submitBdat(b, 'bob@remote.test', message);
    const signed = await eventually(
      async () => (await b.tracking()).find((e) => e.event === 'signed' && e.id === second),
      10_000,
      'the signature',
    );
    assert.ok(signed.event === 'signed');
    assert.deepEqual(signed.signatures, ['example.test/s2026']);
  } finally {
    await b.stop();
  }
});

test('the report names the changed settings that need a restart', async () => {
  const b = await startBarge('[log]\ntracking = true\n');
  try {
    const listeners = '[listener.smtp]\nlisten = "127.0.0.1:0"\n[listener.extra]\nlisten = "127.0.0.1:0"\n';
    const r = await reloadWith(b, `[log]\ntracking = false\n[delivery]\nretry_schedule = ["1m"]\n${listeners}`);
    assert.equal(r.ok, true, r.message);
    const notes =
      'listener extra is new: it starts at the next restart; restart needed for [log], [delivery] retry_schedule (running values kept)';
    assert.ok(r.message.startsWith(`configuration reloaded (${notes}); TLS: self-signed`), r.message);
    assert.equal(
      (await reloadWith(b, '[log]\ntracking = true\n')).message.includes('restart needed'),
      false,
      'back to the running values: nothing to restart',
    );
  } finally {
    await b.stop();
  }
});

test('two reloads at once run one after the other: the second reads its file after the first is applied', async () => {
  const b = await startBarge();
  try {
    const order: string[] = [];
    let release = (): void => undefined;
    const slow = new Promise<void>((resolve) => (release = resolve));
    const first = reloadServer(b.server, async () => {
      order.push('first reads');
      await slow;
      return configOf(b, '[limits]\nmax_recipients = 7\n');
    });
    const second = reloadServer(b.server, async () => {
      order.push(`second reads (max_recipients now ${b.server.config().limits.maxRecipients})`);
      return configOf(b, '[limits]\nmax_recipients = 9\n');
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(order, ['first reads'], 'the second waits for the first');
    release();
    const results = await Promise.all([first, second]);
    assert.deepEqual(
      results.map((r) => r.ok),
      [true, true],
    );
    assert.deepEqual(order, ['first reads', 'second reads (max_recipients now 7)']);
    assert.equal(b.server.config().limits.maxRecipients, 9, 'the later reload wins');
  } finally {
    await b.stop();
  }
});
