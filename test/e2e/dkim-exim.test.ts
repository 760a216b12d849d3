/**
 * DKIM signing end to end: `barge dkim keygen` makes the key, dnsmasq publishes its record, Barge
 * signs relayed mail once (8-bit content converted to 7-bit first) and Exim verifies the signature
 * on what it received, over BDAT and over DATA; the stored bytes verify with mailauth as well.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomInt } from 'node:crypto';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { RawSmtp } from '../support/raw-client.js';
import { eventually, startBarge, tempDir, type TestBarge } from '../support/barge.js';
import { eximClient, eximServer } from '../support/exim.js';
import { dnsTxtRecord } from '../../src/mailauth/dkim-keys.js';
import { startDns } from '../support/dns.js';
import { peer, run } from '../support/peers.js';

const BIN = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..', 'bin', 'barge.js');

const MESSAGE = Buffer.from(
  'From: Alice <alice@sender.test>\r\nTo: bob@exim.test\r\nSubject: signed\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\n' +
    'Message-ID: <1@sender.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n' +
    'caf\xe9 au lait\r\n.leading dot\r\n\r\n\r\n',
  'latin1',
);

async function submit(barge: TestBarge, message: Buffer): Promise<void> {
  const c = await RawSmtp.connect(barge.port);
  await c.reply();
  await c.command('EHLO client.test');
  await c.send(
    Buffer.concat([
      Buffer.from(`MAIL FROM:<alice@sender.test> BODY=8BITMIME\r\nRCPT TO:<bob@exim.test>\r\nBDAT ${message.length} LAST\r\n`),
      message,
    ]),
  );
  const replies = await c.replies(3);
  assert.deepEqual(
    replies.map((r) => r.code),
    [250, 250, 250],
    replies.map((r) => r.raw).join(''),
  );
  c.close();
}

for (const method of ['BDAT', 'DATA'] as const) {
  test(`Barge signs relayed mail and Exim verifies it (${method})`, async (t) => {
    const exim = peer(t, 'exim4');
    const dnsmasq = peer(t, 'dnsmasq');
    if (exim === undefined || dnsmasq === undefined) return;
    const dataDir = await tempDir('barge-dkim-');
    const keygen = await run(process.execPath, [BIN, 'dkim', 'keygen', 'sender.test', '--selector', 's1', '--data-dir', dataDir]);
    assert.equal(keygen.code, 0, keygen.stderr);
    const record = /^s1\._domainkey\.sender\.test\. IN TXT (.+)$/m.exec(keygen.stdout)?.[1];
    assert.ok(record !== undefined, keygen.stdout);
    assert.equal((await stat(join(dataDir, 'dkim', 'sender.test.s1.pem'))).mode & 0o777, 0o600);
    // The zone-file strings, unquoted: dnsmasq is not run by a shell, and joins them again for askers.
    const strings = [...record.matchAll(/"([^"]*)"/g)].map((m) => m[1] ?? '');
    // Exim asks port 53 of resolv.conf's server: dnsmasq gets a loopback address of its own.
    const address = `127.53.${randomInt(1, 255)}.${randomInt(1, 255)}`;
    // A second key, Ed25519 (RFC 8463): the message is signed twice.
    const ed = await run(process.execPath, [
      BIN,
      'dkim',
      'keygen',
      'sender.test',
      '--selector',
      'e1',
      '--algorithm',
      'ed25519',
      '--data-dir',
      dataDir,
    ]);
    const edRecord = /^e1\._domainkey\.sender\.test\. IN TXT "(.+)"$/m.exec(ed.stdout)?.[1];
    assert.ok(edRecord !== undefined, ed.stdout);
    const dns = await startDns(
      dnsmasq,
      [`--txt-record=s1._domainkey.sender.test,${strings.join(',')}`, `--txt-record=e1._domainkey.sender.test,${edRecord}`],
      { address, port: 53 },
    );
    const receiver = await eximServer(exim, await tempDir('barge-exim-dkim-'), undefined, address);
    const toml = [
      `[dns]\nservers = ["${dns.server}"]`,
      `[routes."exim.test"]\nnext_hop = "127.0.0.1:${receiver.port}"\nchunking = "${method === 'BDAT' ? 'auto' : 'never'}"`,
      '[[dkim."sender.test"]]\nselector = "s1"\nkey = "dkim/sender.test.s1.pem"',
      '[[dkim."sender.test"]]\nselector = "e1"\nkey = "dkim/sender.test.e1.pem"\nalgorithm = "ed25519-sha256"',
    ].join('\n');
    const barge = await startBarge(toml, {}, dataDir);
    try {
      // `barge dkim check` asks the configured [dns] servers: the published record matches the key.
      await writeFile(join(dataDir, 'barge.toml'), toml);
      const check = await run(process.execPath, [
        BIN,
        'dkim',
        'check',
        'sender.test',
        '--selector',
        's1',
        '--config',
        join(dataDir, 'barge.toml'),
        '--data-dir',
        dataDir,
      ]);
      assert.equal(check.code, 0, check.stdout + check.stderr);
      assert.match(check.stdout, /matches/);
      const other = await run(process.execPath, [BIN, 'dkim', 'keygen', 'sender.test', '--selector', 's2', '--data-dir', dataDir]);
      assert.equal(other.code, 0);
      await writeFile(join(dataDir, 'barge.toml'), toml.replace('key = "dkim/sender.test.s1.pem"', 'key = "dkim/sender.test.s2.pem"'));
      const mismatch = await run(process.execPath, [
        BIN,
        'dkim',
        'check',
        'sender.test',
        '--selector',
        's1',
        '--config',
        join(dataDir, 'barge.toml'),
        '--data-dir',
        dataDir,
      ]);
      assert.equal(mismatch.code, 1);
      assert.match(mismatch.stdout, /does NOT match/);
      await submit(barge, MESSAGE);
      const [stored] = await eventually(
        async () => {
          const m = await receiver.messages();
          return m.length > 0 ? m : undefined;
        },
        20_000,
        'delivery to Exim',
      );
      assert.ok(stored !== undefined);
      const log = await receiver.mainLog();
      assert.match(log, /DKIM: d=sender\.test s=s1 c=relaxed\/relaxed a=rsa-sha256 .*\[verification succeeded\]/, log);
      assert.match(log, /DKIM: d=sender\.test s=e1 c=relaxed\/relaxed a=ed25519-sha256 .*\[verification succeeded\]/, log);
      // Exim's K flag: the message came by CHUNKING.
      assert.equal(/<= alice@sender\.test .* K .*DKIM=sender\.test/.test(log), method === 'BDAT', log);
      const text = stored.toString('latin1');
      assert.equal((text.match(/^DKIM-Signature:/gm) ?? []).length, 2, 'signed once with each key');
      assert.match(text, /^Content-Transfer-Encoding: base64\r?$/m, '8-bit body converted before signing');
      // The bytes Exim stored verify against the published key (Exim adds only trace fields above).
      const verified = await dkimVerify(stored, { resolver: async (name: string) => [name.startsWith('e1.') ? [edRecord] : strings] });
      assert.deepEqual(
        verified.results.map((r) => r.status.result),
        ['pass', 'pass'],
        JSON.stringify(verified.results),
      );
      // Exim has the message before Barge records its 250: wait for the delivered event.
      const records = await eventually(
        async () => {
          const all = await barge.tracking();
          return all.some((r) => r.event === 'delivered') ? all : undefined;
        },
        10_000,
        'the delivered event',
      );
      const signed = records.find((r) => r.event === 'signed');
      assert.ok(signed?.event === 'signed');
      assert.deepEqual(signed.signatures, ['sender.test/s1', 'sender.test/e1']);
      const delivered = records.find((r) => r.event === 'delivered');
      assert.ok(delivered?.event === 'delivered');
      assert.equal(delivered.method, method);
      assert.doesNotMatch(delivered.detail, /converted/, 'delivery sent the signed bytes unchanged');
    } finally {
      await barge.stop();
      await receiver.stop();
      await dns.stop();
    }
  });
}

test('Barge verifies mail that Exim signed: dkim, spf and dmarc pass under an enforcing listener', async (t) => {
  const exim = peer(t, 'exim4');
  const dnsmasq = peer(t, 'dnsmasq');
  if (exim === undefined || dnsmasq === undefined) return;
  const dir = await tempDir('barge-exim-signs-');
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyFile = join(dir, 'exim-dkim.pem');
  // The smtp transport runs as Debian-exim, which must read the key.
  await writeFile(keyFile, privateKey.export({ type: 'pkcs1', format: 'pem' }), { mode: 0o644 });
  const record = dnsTxtRecord(privateKey);
  const dns = await startDns(dnsmasq, [
    `--txt-record=x1._domainkey.exim.test,${(record.match(/.{1,255}/g) ?? []).join(',')}`,
    '--txt-record=exim.test,v=spf1 ip4:127.0.0.1 -all',
    '--txt-record=_dmarc.exim.test,v=DMARC1; p=reject',
  ]);
  const barge = await startBarge(
    `relay_networks = []\nlocal_domains = ["barge.test"]\n[dns]\nservers = ["${dns.server}"]\n[listener.smtp]\ndmarc_policy = "enforce"`,
  );
  try {
    const client = await eximClient(exim, dir, barge.port, { domain: 'exim.test', selector: 'x1', keyFile });
    await client.send(
      'bob@barge.test',
      Buffer.from('From: Sender <sender@exim.test>\r\nTo: bob@barge.test\r\nSubject: signed by exim\r\n\r\nhello from exim\r\n'),
    );
    const [m] = await eventually(
      async () => {
        const box = await barge.mailbox('bob@barge.test');
        return box.length > 0 ? box : undefined;
      },
      20_000,
      'delivery from Exim',
    );
    const headers = (m ?? Buffer.alloc(0)).toString('latin1');
    assert.match(headers, /dkim=pass header\.i=@exim\.test header\.s=x1 header\.a=rsa-sha256/, headers);
    assert.match(headers, /spf=pass .*smtp\.mailfrom=sender@exim\.test/);
    assert.match(headers, /spf=pass smtp\.helo=exim\.test/);
    assert.match(headers, /dmarc=pass .*header\.from=exim\.test/);
    const tracked = (await barge.tracking()).find((r) => r.event === 'authenticated');
    assert.ok(tracked?.event === 'authenticated');
    assert.equal(tracked.action, 'accept');
    assert.match(tracked.results, /^barge\.test; dkim=pass/);
  } finally {
    await barge.stop();
    await dns.stop();
  }
});
