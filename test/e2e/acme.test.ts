/**
 * ACME (RFC 8555) against pebble, Let's Encrypt's test CA, with dnsmasq pointing the names at
 * loopback: Barge obtains a certificate at start by answering HTTP-01 on its http_listen, serves it
 * for those names (STARTTLS and implicit TLS), keeps it private and durable under the data
 * directory, and renews it when its remaining life is short (on the test's clock) with no restart.
 * The console and /metrics show it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stat, writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { eventually, startBarge, tempDir, TEST_HOSTNAME } from '../support/barge.js';
import { freePort, startDns } from '../support/dns.js';
import { peer } from '../support/peers.js';
import { startPebble } from '../support/pebble.js';
import { presented } from '../support/tls-peek.js';
import { VirtualClock } from '../support/virtual-clock.js';
import { ConsoleClient, startConsole } from '../support/admin.js';
import { updateUsers, usersPath, hashPassword } from '../../src/auth/users.js';
import { generateSelfSigned } from '../../src/server/tls.js';
import { certificatesSection } from '../../src/admin/pages/certificates.js';

const NAMES = ['mx.acme.test', 'smtp.acme.test'];

test('a certificate from pebble at start, served for its names, renewed without a restart when its life runs short', async (t) => {
  const dnsmasq = peer(t, 'dnsmasq');
  const pebbleBin = peer(t, 'pebble');
  if (dnsmasq === undefined || pebbleBin === undefined) return;
  const dir = await tempDir('barge-acme-');
  const dns = await startDns(
    dnsmasq,
    NAMES.map((n) => `--host-record=${n},127.0.0.1`),
  );
  const httpPort = await freePort();
  const pebble = await startPebble(pebbleBin, { dir, httpPort, dnsServer: dns.server });
  const clock = new VirtualClock();
  const says: string[] = [];
  const toml = `[acme]
directory = "${pebble.directory}"
email = "postmaster@acme.test"
names = ${JSON.stringify(NAMES)}
http_listen = "127.0.0.1:${httpPort}"
ca_file = "${pebble.caFile}"

[listener.smtp]
listen = "127.0.0.1:0"

[listener.smtps]
listen = "127.0.0.1:0"
tls = "implicit"
`;
  const started = performance.now();
  const barge = await startBarge(toml, { listen: [] }, join(dir, 'data'), { clock: clock, say: (l) => says.push(l) });
  try {
    const acme = barge.server.acme;
    assert.ok(acme !== undefined);
    // Ordered on the first tick of the clock: mail is served meanwhile.
    clock.advance(0);
    const first = await eventually(async () => acme.status().certificate, 60_000, 'the first certificate');
    const obtainedMs = performance.now() - started;
    t.diagnostic(`certificate obtained from pebble ${obtainedMs.toFixed(0)} ms after start`);
    assert.match(says.join('\n'), /ACME certificate for mx\.acme\.test, smtp\.acme\.test obtained/);

    // Served for each name, on both listeners, and it verifies against pebble's root for that name.
    const root = await pebble.root();
    const smtps = barge.server.addresses.find((a) => a.name === 'smtps')?.port ?? 0;
    for (const [name, port, implicit] of [
      [NAMES[0], barge.port, false],
      [NAMES[1], smtps, true],
    ] as const) {
      const p = await presented(port, name, { ca: root, implicit });
      assert.equal(p.cert.serialNumber, first.serial, name);
      assert.equal(p.authorized, true, `${name}: ${String(p.authorizationError)}`);
      assert.deepEqual(p.cert.subjectAltName?.split(', ').sort(), NAMES.map((n) => `DNS:${n}`).sort());
    }
    // No [tls] cert is configured: the ACME certificate is the default too.
    assert.equal((await presented(barge.port, 'other.test')).cert.serialNumber, first.serial);
    assert.equal((await presented(barge.port, undefined)).cert.serialNumber, first.serial);

    // Private and whole on disk: the account key, and the key with its chain in one file.
    for (const file of ['account.key', 'certificate.pem'])
      assert.equal((await stat(join(barge.dataDir, 'acme', file))).mode & 0o777, 0o600, file);

    // The console shows it and its state; /metrics has its expiry.
    const hash = await hashPassword('pw');
    await updateUsers(usersPath(barge.dataDir), () => [{ name: 'root', hash, addresses: [], admin: true }]);
    const admin = await startConsole(barge, clock);
    try {
      const c = new ConsoleClient(admin.url);
      assert.equal((await c.post('/login', { user: 'root', password: 'pw' })).status, 303);
      const page = (await c.get('/listeners')).body;
      assert.match(page, /<h2>Certificates<\/h2>/);
      assert.match(page, new RegExp(`<td class="mono">acme</td><td class="mono">${NAMES.join(', ').replace(/\./g, '\\.')}</td>`));
      assert.match(page, new RegExp(first.serial));
      assert.match(page, /Last success<\/td><td>\d{4}-/);
      const metrics = await (await fetch(`${admin.url}metrics`)).text();
      const expiry = Number(/^barge_tls_certificate_expiry_seconds\{name="acme"\} (\d+)$/m.exec(metrics)?.[1]);
      assert.ok(Math.abs(expiry - (first.notAfter.getTime() - clock.now().getTime()) / 1000) < 5, metrics);
      assert.match(metrics, /^barge_acme_failures_total 0$/m);
    } finally {
      await admin.close();
    }

    // Renewal is due 30 days before expiry; until then nothing is ordered.
    const due = acme.status().nextAttempt;
    assert.ok(due !== undefined);
    assert.equal(due.getTime(), first.notAfter.getTime() - 30 * 86_400_000);
    clock.advance(due.getTime() - clock.now().getTime() - 60_000);
    assert.equal(acme.status().ordering, false);
    clock.advance(60_000);
    const renewed = await eventually(
      async () => (acme.status().certificate?.serial !== first.serial ? acme.status().certificate : undefined),
      60_000,
      'the renewal',
    );
    const p = await presented(barge.port, NAMES[0], { ca: root });
    assert.equal(p.cert.serialNumber, renewed.serial);
    assert.notEqual(renewed.serial, first.serial);
    assert.equal(p.authorized, true);
    assert.ok(renewed.notAfter >= first.notAfter);
    // The ACME library ran in a child process: the server's own process never loaded it.
    assert.deepEqual(
      Object.keys(createRequire(import.meta.url).cache).filter((p) => p.includes('/node_modules/acme-client/')),
      [],
    );
  } finally {
    await barge.stop();
    await pebble.stop();
    await dns.stop();
  }

  // After a restart the stored certificate is served at once; nothing is ordered before its renewal time.
  const again = await startBarge(toml, { listen: [] }, join(dir, 'data'), { clock: clock });
  try {
    const s = again.server.acme?.status();
    assert.equal(s?.certificate?.serial, (await presented(again.port, NAMES[1])).cert.serialNumber);
    assert.ok(
      s?.nextAttempt !== undefined &&
        s.certificate !== undefined &&
        s.nextAttempt.getTime() === s.certificate.notAfter.getTime() - 30 * 86_400_000,
    );
  } finally {
    await again.stop();
  }
});

test('a CA that refuses: retried after 2, then 4 minutes, logged, counted and shown; mail is served meanwhile', async () => {
  const own = await generateSelfSigned('localhost');
  const dir = await tempDir('barge-acme-fail-');
  await writeFile(join(dir, 'ca.pem'), own.cert);
  let requests = 0;
  const ca = createHttpsServer({ cert: own.cert, key: own.key }, (_req, res) => {
    requests++;
    res.writeHead(404).end('no directory here\n');
  });
  await new Promise<void>((resolve) => ca.listen(0, '127.0.0.1', resolve));
  const caPort = (ca.address() as AddressInfo).port;
  const clock = new VirtualClock();
  const says: string[] = [];
  const toml = `[acme]\ndirectory = "https://127.0.0.1:${caPort}/directory"\nnames = ["mx.fail.test"]\nhttp_listen = "127.0.0.1:0"\nca_file = "${join(dir, 'ca.pem')}"\n`;
  const barge = await startBarge(toml, {}, join(dir, 'data'), { clock: clock, say: (l) => says.push(l) });
  try {
    const acme = barge.server.acme;
    assert.ok(acme !== undefined);
    clock.advance(0);
    await eventually(async () => (acme.status().failures === 1 && !acme.status().ordering ? true : undefined), 30_000);
    const failed = acme.status();
    assert.match(failed.lastError?.message ?? '', /404/);
    assert.equal(failed.nextAttempt?.getTime(), clock.now().getTime() + 2 * 60_000);
    assert.match(says.join('\n'), /ACME order for mx\.fail\.test failed \(1 in a row\), retrying in 2 min: .*404/);
    // Meanwhile the self-signed default is served, for that name too.
    assert.equal((await presented(barge.port, 'mx.fail.test')).cert.subject, `CN=${TEST_HOSTNAME}`);

    const asked = requests;
    clock.advance(2 * 60_000 - 1);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(requests, asked, 'not before the retry time');
    clock.advance(1);
    await eventually(async () => (acme.status().failures === 2 && !acme.status().ordering ? true : undefined), 30_000);
    assert.equal(acme.status().nextAttempt?.getTime(), clock.now().getTime() + 4 * 60_000);

    const metrics = (await barge.server.metrics?.registry.metrics()) ?? '';
    assert.match(metrics, /^barge_acme_failures_total 2$/m);
    const section = String(await certificatesSection(barge.server, clock.now()));
    assert.match(section, /<span class="pill bad">failed<\/span> <span class="muted">2 failed order\(s\)/);
    assert.match(section, /Last error<\/td><td>[^<]+: <span class="mono">[^<]*404/);
  } finally {
    await barge.stop();
    ca.close();
  }
});
