/**
 * Certificates by server name (SNI, RFC 6066 3) over real TLS: `[tls."NAME"]` and one-label
 * wildcards beside the default `[tls]`, for STARTTLS (checked with `openssl s_client -starttls smtp`)
 * and implicit TLS; files read again on reload, all or none; the console and /metrics show each.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startBarge, tempDir, TEST_HOSTNAME } from '../support/barge.js';
import { peer, run } from '../support/peers.js';
import { presented } from '../support/tls-peek.js';
import { ConsoleClient, startConsole } from '../support/admin.js';
import { buildConfig } from '../../src/config/validate.js';
import { generateSelfSigned } from '../../src/server/tls.js';
import { reloadServer } from '../../src/app/reload.js';
import { hashPassword, updateUsers, usersPath } from '../../src/auth/users.js';

/** Writes a new self-signed pair for `name` as NAME.crt/NAME.key; returns its serial. */
async function makePair(dir: string, file: string, name: string): Promise<string> {
  const pem = await generateSelfSigned(name);
  await writeFile(join(dir, `${file}.crt`), pem.cert);
  await writeFile(join(dir, `${file}.key`), pem.key, { mode: 0o600 });
  return new X509Certificate(pem.cert).serialNumber;
}

const entry = (key: string, file: string, dir: string): string =>
  `[tls."${key}"]\ncert = "${join(dir, `${file}.crt`)}"\nkey = "${join(dir, `${file}.key`)}"\n`;

test('each name gets its certificate (wildcards one label deep), others the default; STARTTLS and implicit TLS; reload reads new files', async (t) => {
  const openssl = peer(t, 'openssl');
  if (openssl === undefined) return;
  const dir = await tempDir('barge-sni-');
  const serial = {
    default: await makePair(dir, 'default', TEST_HOSTNAME),
    mx: await makePair(dir, 'mx', 'mx.sni.test'),
    wild: await makePair(dir, 'wild', '*.wild.sni.test'),
  };
  const listeners = '[listener.smtp]\nlisten = "127.0.0.1:0"\n[listener.smtps]\nlisten = "127.0.0.1:0"\ntls = "implicit"\n';
  const base = `[tls]\ncert = "${join(dir, 'default.crt')}"\nkey = "${join(dir, 'default.key')}"\n${entry('mx.sni.test', 'mx', dir)}${entry('*.wild.sni.test', 'wild', dir)}`;
  const data = join(dir, 'data');
  const barge = await startBarge(`${listeners}${base}`, { listen: [] }, data);
  const smtps = barge.server.addresses.find((a) => a.name === 'smtps')?.port ?? 0;
  try {
    // openssl's own STARTTLS dialogue, as an operator would check it.
    for (const [name, expected] of [
      ['mx.sni.test', serial.mx],
      ['a.wild.sni.test', serial.wild],
      ['unknown.test', serial.default],
    ] as const) {
      const r = await run(openssl, ['s_client', '-servername', name, '-starttls', 'smtp', '-connect', `127.0.0.1:${barge.port}`], '');
      const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(r.stdout)?.[0];
      assert.ok(pem !== undefined, `${name}: ${r.stdout}${r.stderr}`);
      assert.equal(new X509Certificate(pem).serialNumber, expected, name);
    }
    const served = async (name: string | undefined, implicit = false): Promise<string> =>
      (await presented(implicit ? smtps : barge.port, name, { implicit })).cert.serialNumber;
    assert.equal(await served(undefined), serial.default, 'no name: the default');
    assert.equal(await served('MX.Sni.Test'), serial.mx, 'names are case-insensitive');
    assert.equal(await served('b.c.wild.sni.test'), serial.default, 'a wildcard covers one label only');
    assert.equal(await served('wild.sni.test'), serial.default, 'a wildcard does not cover its parent');
    assert.equal(await served('mx.sni.test', true), serial.mx, 'implicit TLS');
    assert.equal(await served('z.wild.sni.test', true), serial.wild, 'implicit TLS, wildcard');

    // Replaced files and a new entry are read on reload; new handshakes see them.
    const renewed = await makePair(dir, 'mx', 'mx.sni.test');
    const added = await makePair(dir, 'new', 'new.sni.test');
    const load = (text: string) => async () => buildConfig({ text, file: 'test.toml' }, { dataDir: data }, TEST_HOSTNAME);
    const ok = await reloadServer(barge.server, load(`${listeners}${base}${entry('new.sni.test', 'new', dir)}`));
    assert.ok(ok.ok, ok.message);
    assert.match(ok.message, /by name \(SNI\): mx\.sni\.test, \*\.wild\.sni\.test, new\.sni\.test/);
    assert.equal(await served('mx.sni.test'), renewed);
    assert.equal(await served('new.sni.test', true), added);

    // One missing file: the whole reload is refused, naming it, and every certificate in use stays.
    const broken = await reloadServer(barge.server, load(`${listeners}${base}${entry('gone.sni.test', 'gone', dir)}`));
    assert.equal(broken.ok, false);
    assert.match(
      broken.message,
      /^configuration refused, the running one stays: tls\."gone\.sni\.test"\.cert: cannot read .*gone\.crt: .*\(ENOENT\)$/,
    );
    assert.equal(await served('new.sni.test'), added);
    assert.equal(await served('gone.sni.test'), serial.default);

    // The console lists each entry with its names and expiry; /metrics has one gauge series per entry.
    const hash = await hashPassword('pw');
    await updateUsers(usersPath(barge.dataDir), () => [{ name: 'root', hash, addresses: [], admin: true }]);
    const admin = await startConsole(barge);
    try {
      const c = new ConsoleClient(admin.url);
      assert.equal((await c.post('/login', { user: 'root', password: 'pw' })).status, 303);
      const page = (await c.get('/listeners')).body;
      assert.match(
        page,
        /<td class="mono">\*\.wild\.sni\.test<\/td><td class="mono">\*\.wild\.sni\.test, localhost<\/td><td>20\d\d-[^<]+<span class="pill ok">36\d\d days left<\/span>/,
      );
      assert.match(page, new RegExp(`<td class="mono">${renewed}</td>`));
      const metrics = await (await fetch(`${admin.url}metrics`)).text();
      for (const name of ['default', 'mx.sni.test', '*.wild.sni.test', 'new.sni.test']) {
        const seconds = Number(
          new RegExp(`^barge_tls_certificate_expiry_seconds\\{name="${name.replace(/[.*]/g, '\\$&')}"\\} (\\d+)$`, 'm').exec(metrics)?.[1],
        );
        assert.ok(seconds > 3649 * 86_400 && seconds <= 3650 * 86_400, `${name}: ${seconds}`);
      }
      assert.doesNotMatch(metrics, /barge_acme_failures_total [1-9]/);
    } finally {
      await admin.close();
    }
  } finally {
    await barge.stop();
  }
});
