/**
 * MTA-STS against a loopback HTTPS policy server with a test CA, dnsmasq serving the _mta-sts TXT,
 * MX and address records, and a Barge receiver whose certificate the CA signed for mx.sts.test:
 * enforce with a matching MX delivers over verified TLS; an MX outside the policy or a certificate
 * not valid for the MX defers and never falls back to clear text; testing mode delivers and reports.
 * REQUIRETLS (RFC 8689) is offered only inside TLS, relayed only over the verified path with the
 * option passed on, and bounced with 5.7.10 otherwise; "TLS-Required: No" waives the policy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { RawSmtp } from '../support/raw-client.js';
import { eventually, startBarge, tempDir, type TestBarge } from '../support/barge.js';
import { startDns } from '../support/dns.js';
import { peer } from '../support/peers.js';

const POLICIES: Readonly<Record<string, string>> = {
  'mta-sts.sts.test': 'version: STSv1\r\nmode: enforce\r\nmx: mx.sts.test\r\nmax_age: 86400\r\n',
  'mta-sts.mismatch.test': 'version: STSv1\nmode: enforce\nmx: *.elsewhere.test\nmax_age: 86400\n',
  'mta-sts.badcert.test': 'version: STSv1\nmode: enforce\nmx: mx.badcert.test\nmax_age: 86400\n',
  'mta-sts.testing.test': 'version: STSv1\nmode: testing\nmx: mx.elsewhere.test\nmax_age: 86400\n',
};
const DOMAINS = ['sts.test', 'mismatch.test', 'badcert.test', 'testing.test'];

async function testPki(): Promise<{ ca: string; cert: string; key: string }> {
  const ca = await generate([{ name: 'commonName', value: 'Barge Test CA' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true },
    ],
  });
  // One leaf for the policy hosts and mx.sts.test; mx.badcert.test is deliberately not on it.
  const names = [...Object.keys(POLICIES), 'mx.sts.test', 'mx.mismatch.test', 'mx.testing.test'];
  const leaf = await generate([{ name: 'commonName', value: 'mx.sts.test' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: names.map((value) => ({ type: 2, value })) },
    ],
  });
  return { ca: ca.cert, cert: leaf.cert, key: leaf.private };
}

async function policyServer(cert: string, key: string, fetched: string[]): Promise<{ server: Server; port: number }> {
  const server = createServer({ cert, key }, (req, res) => {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    fetched.push(host);
    const policy = POLICIES[host];
    if (req.url !== '/.well-known/mta-sts.txt' || policy === undefined) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/plain' }).end(policy);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const a = server.address();
  return { server, port: typeof a === 'object' && a !== null ? a.port : 0 };
}

async function submit(barge: TestBarge, to: string, how: { requireTls?: boolean; header?: string } = {}): Promise<void> {
  const c = await RawSmtp.connect(barge.port);
  await c.reply();
  const ehlo = await c.command('EHLO client.test');
  assert.doesNotMatch(ehlo.raw, /REQUIRETLS/, 'REQUIRETLS is offered inside TLS only (RFC 8689 4.1)');
  if (how.requireTls === true) {
    assert.equal((await c.command('MAIL FROM:<alice@localhost> REQUIRETLS')).raw.slice(0, 10), '530 5.7.10');
    assert.equal((await c.command('STARTTLS')).code, 220);
    await c.startTls();
    assert.match((await c.command('EHLO client.test')).raw, /^250[- ]REQUIRETLS\r$/m);
  }
  const body = `${how.header ?? ''}Subject: to ${to}\r\n\r\nhello\r\n`;
  await c.send(
    `MAIL FROM:<alice@localhost>${how.requireTls === true ? ' REQUIRETLS' : ''}\r\nRCPT TO:<${to}>\r\nBDAT ${body.length} LAST\r\n${body}`,
  );
  const replies = await c.replies(3);
  c.close();
  assert.equal(replies[2]?.code, 250, replies[2]?.raw);
}

test('MTA-STS enforce delivers over verified TLS to a matching MX, defers otherwise and never in clear text; testing delivers and reports; REQUIRETLS and TLS-Required: No', async (t) => {
  const dnsmasq = peer(t, 'dnsmasq');
  if (dnsmasq === undefined) return;
  const pki = await testPki();
  const fetched: string[] = [];
  const https = await policyServer(pki.cert, pki.key, fetched);
  const dir = await tempDir('barge-sts-');
  await writeFile(join(dir, 'cert.pem'), pki.cert);
  await writeFile(join(dir, 'key.pem'), pki.key, { mode: 0o600 });
  const receiver = await startBarge(
    `local_domains = [${DOMAINS.map((d) => `"${d}"`).join(', ')}]\n[log]\nw3c_fields = ["c-ip", "cs-method", "cs-uri-query", "sc-status"]\n` +
      `[tls]\ncert = "${join(dir, 'cert.pem')}"\nkey = "${join(dir, 'key.pem')}"`,
    { hostname: 'receiver.test' },
  );
  const dns = await startDns(
    dnsmasq,
    DOMAINS.flatMap((d) => [
      `--txt-record=_mta-sts.${d},v=STSv1; id=20261201`,
      `--mx-host=${d},mx.${d},10`,
      `--host-record=mx.${d},127.0.0.1`,
      `--host-record=mta-sts.${d},127.0.0.1`,
    ]),
  );
  const sender = await startBarge(`[dns]\nservers = ["${dns.server}"]\n[delivery]\nport = ${receiver.port}`, {}, undefined, {
    mtaSts: { ca: [pki.ca], port: https.port },
  });
  try {
    // sts.test first: its verified session to 127.0.0.1 is then idle in the pool while the others go,
    // and must not serve mx.badcert.test (same address, a name its certificate does not carry).
    await submit(sender, 'bob@sts.test');
    await eventually(async () => ((await receiver.mailbox('bob@sts.test')).length > 0 ? true : undefined), 15_000, 'first delivery');
    for (const d of DOMAINS.slice(1)) await submit(sender, `bob@${d}`);
    const delivered = await eventually(
      async () => {
        const records = (await sender.tracking()).filter((r) => r.event === 'delivered' || r.event === 'deferred');
        return records.length >= 4 ? records : undefined;
      },
      20_000,
      'four outcomes',
    );
    const outcome = (d: string): (typeof delivered)[number] | undefined =>
      delivered.find((r) => (r.event === 'delivered' || r.event === 'deferred') && r.rcpt === `bob@${d}`);

    const ok = outcome('sts.test');
    assert.ok(ok?.event === 'delivered', JSON.stringify(ok));
    assert.match(ok.tlsPolicy ?? '', /^MTA-STS enforce id 20261201 mx mx\.sts\.test; verified TLS required$/);
    const [got] = await receiver.mailbox('bob@sts.test');
    assert.match(got?.toString('latin1') ?? '', /with ESMTPS \(/, 'received over TLS');

    const mismatch = outcome('mismatch.test');
    assert.ok(mismatch?.event === 'deferred', JSON.stringify(mismatch));
    assert.match(mismatch.reason, /no MX host matches its MTA-STS policy/);

    const bad = outcome('badcert.test');
    assert.ok(bad?.event === 'deferred', JSON.stringify(bad));
    assert.match(bad.reason, /mx\.badcert\.test.*(altnames|certificate|Hostname)/i);

    const testing = outcome('testing.test');
    assert.ok(testing?.event === 'delivered', JSON.stringify(testing));
    assert.match(testing.tlsPolicy ?? '', /^MTA-STS testing id 20261201 .*MX not in policy: mx\.testing\.test$/);

    // Nothing reached the receiver for the deferred domains, in clear text or otherwise.
    assert.equal((await receiver.mailbox('bob@mismatch.test')).length, 0);
    assert.equal((await receiver.mailbox('bob@badcert.test')).length, 0);
    const reports = (await sender.tracking()).filter((r) => r.event === 'tls-policy');
    const results = reports.map((r) => (r.event === 'tls-policy' ? `${r.domain} ${r.result}` : '')).sort();
    assert.deepEqual(results, ['badcert.test failure', 'mismatch.test failure', 'sts.test success', 'testing.test success']);

    // The policy is cached for max_age: a second message to sts.test fetches nothing new.
    const before = fetched.filter((h) => h === 'mta-sts.sts.test').length;
    await submit(sender, 'carol@sts.test');
    await eventually(async () => ((await receiver.mailbox('carol@sts.test')).length > 0 ? true : undefined), 15_000, 'second delivery');
    assert.equal(fetched.filter((h) => h === 'mta-sts.sts.test').length, before);
    assert.equal(before, 1);

    // REQUIRETLS (RFC 8689): relayed over the verified path with the option passed on; bounced with
    // 5.7.10 where only a testing policy (no verified path) exists.
    await submit(sender, 'dave@sts.test', { requireTls: true });
    await eventually(async () => ((await receiver.mailbox('dave@sts.test')).length > 0 ? true : undefined), 15_000, 'REQUIRETLS delivery');
    assert.match(await receiver.protocolLog(), /MAIL FROM:<alice@localhost>\+SIZE=\d+\+REQUIRETLS 250/);
    await submit(sender, 'erin@testing.test', { requireTls: true });
    const bounced = await eventually(
      async () => (await sender.tracking()).find((r) => r.event === 'bounced' && r.rcpt === 'erin@testing.test'),
      15_000,
      'REQUIRETLS bounce',
    );
    assert.ok(bounced.event === 'bounced');
    assert.match(bounced.reason, /REQUIRETLS: no verified TLS path to testing\.test/);
    assert.equal((await receiver.mailbox('erin@testing.test')).length, 0);

    // "TLS-Required: No" (RFC 8689 5) waives the enforced policy: the certificate is not checked.
    await submit(sender, 'frank@badcert.test', { header: 'TLS-Required: No\r\n' });
    await eventually(
      async () => ((await receiver.mailbox('frank@badcert.test')).length > 0 ? true : undefined),
      15_000,
      'TLS-Required: No delivery',
    );
  } finally {
    await sender.stop();
    await receiver.stop();
    await dns.stop();
    https.server.close();
  }
});
