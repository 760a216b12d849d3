/**
 * Inbound SPF, DKIM and DMARC over real sockets with dnsmasq serving the records: the DMARC
 * reject/quarantine/none matrix with aligned and unaligned SPF and DKIM under an enforcing listener,
 * the same failure only tagged under the default policy, SPF fail rejection, one Authentication-Results
 * field on top (forged ones under Barge's name removed), and DNS that never answers costing at most
 * the time budget.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RawSmtp, type SmtpReply } from '../support/raw-client.js';
import { eventually, startBarge, type TestBarge } from '../support/barge.js';
import { startDns, type TestDns } from '../support/dns.js';
import { peer } from '../support/peers.js';
import { dataPaths } from '../../src/config/paths.js';
import { mailboxFolder } from '../../src/queue/maildir.js';
import { dnsTxtRecord } from '../../src/mailauth/dkim-keys.js';
import { dkimSigned } from '../support/signed-mail.js';

const keys = new Map<string, KeyObject>(
  ['reject.test', 'quarantine.test', 'other.test'].map((d) => [d, generateKeyPairSync('ed25519').privateKey]),
);

function records(): string[] {
  const spf = (d: string, net: string): string => `--txt-record=${d},v=spf1 ip4:${net} -all`;
  return [
    ...['reject.test', 'quarantine.test', 'none.test', 'spfpass.test'].map((d) => spf(d, '127.0.0.1')),
    spf('spffail.test', '192.0.2.1'),
    '--txt-record=_dmarc.reject.test,v=DMARC1; p=reject',
    '--txt-record=_dmarc.quarantine.test,v=DMARC1; p=quarantine',
    '--txt-record=_dmarc.none.test,v=DMARC1; p=none',
    ...[...keys].map(([d, k]) => `--txt-record=k1._domainkey.${d},${dnsTxtRecord(k)}`),
  ];
}

function message(fromDomain: string, signer?: string, subject = 'matrix'): Buffer {
  const text =
    `Authentication-Results: barge.test; dmarc=pass header.from=${fromDomain}\r\n` +
    'Authentication-Results: elsewhere.example; spf=pass\r\n' +
    `From: Someone <someone@${fromDomain}>\r\nTo: bob@barge.test\r\nSubject: ${subject}\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\n\r\nhello\r\n`;
  return signer === undefined ? Buffer.from(text) : dkimSigned(Buffer.from(text), signer, keys.get(signer) as KeyObject);
}

async function send(barge: TestBarge, mailFrom: string, body: Buffer): Promise<SmtpReply> {
  const c = await RawSmtp.connect(barge.port);
  await c.reply();
  await c.command('EHLO client.test');
  await c.send(Buffer.concat([Buffer.from(`MAIL FROM:<${mailFrom}>\r\nRCPT TO:<bob@barge.test>\r\nBDAT ${body.length} LAST\r\n`), body]));
  const replies = await c.replies(3);
  c.close();
  assert.deepEqual(
    replies.slice(0, 2).map((r) => r.code),
    [250, 250],
  );
  const last = replies[2];
  assert.ok(last !== undefined);
  return last;
}

async function folder(barge: TestBarge, sub: string): Promise<Buffer[]> {
  const dir = join(mailboxFolder(dataPaths(barge.dataDir).mail, 'bob@barge.test'), sub, 'new');
  const names = (await readdir(dir).catch(() => [] as string[])).sort();
  return Promise.all(names.map((n) => readFile(join(dir, n))));
}

const outside = (dns: TestDns, listener: string): string =>
  `relay_networks = []\nlocal_domains = ["barge.test"]\n[dns]\nservers = ["${dns.server}"]\n[listener.smtp]\n${listener}`;

/** The headers Barge wrote above the client's: Return-Path, Delivered-To, then ours. */
function headersOf(m: Buffer): string {
  return m.toString('latin1').slice(0, m.indexOf('\r\n\r\n'));
}

test('DMARC matrix under dmarc_policy = "enforce": reject, quarantine and none with aligned and unaligned SPF and DKIM', async (t) => {
  const dnsmasq = peer(t, 'dnsmasq');
  if (dnsmasq === undefined) return;
  const dns = await startDns(dnsmasq, records());
  const barge = await startBarge(outside(dns, 'dmarc_policy = "enforce"'));
  try {
    const cases = [
      { name: 'SPF aligned', from: 'reject.test', mailFrom: 'a@reject.test', signer: undefined, expect: 'inbox', dmarc: 'pass' },
      { name: 'SPF pass, unaligned', from: 'reject.test', mailFrom: 'a@spfpass.test', signer: undefined, expect: 'reject', dmarc: 'fail' },
      {
        name: 'SPF fail, DKIM aligned',
        from: 'reject.test',
        mailFrom: 'a@spffail.test',
        signer: 'reject.test',
        expect: 'inbox',
        dmarc: 'pass',
      },
      {
        name: 'SPF and DKIM pass, both unaligned',
        from: 'reject.test',
        mailFrom: 'a@spfpass.test',
        signer: 'other.test',
        expect: 'reject',
        dmarc: 'fail',
      },
      {
        name: 'quarantine, unaligned',
        from: 'quarantine.test',
        mailFrom: 'a@spfpass.test',
        signer: 'other.test',
        expect: 'junk',
        dmarc: 'fail',
      },
      {
        name: 'quarantine, DKIM aligned',
        from: 'quarantine.test',
        mailFrom: 'a@spfpass.test',
        signer: 'quarantine.test',
        expect: 'inbox',
        dmarc: 'pass',
      },
      { name: 'none, unaligned', from: 'none.test', mailFrom: 'a@spfpass.test', signer: undefined, expect: 'inbox', dmarc: 'fail' },
    ] as const;
    let inbox = 0;
    let junk = 0;
    for (const c of cases) {
      const reply = await send(barge, c.mailFrom, message(c.from, c.signer, c.name));
      if (c.expect === 'reject') {
        assert.equal(reply.code, 550, `${c.name}: ${reply.raw}`);
        assert.match(reply.raw, /5\.7\.1 .*DMARC/, c.name);
        continue;
      }
      assert.equal(reply.code, 250, `${c.name}: ${reply.raw}`);
      if (c.expect === 'inbox') inbox++;
      else junk++;
      const box = await eventually(
        async () => {
          const m = await folder(barge, c.expect === 'inbox' ? '' : '.Junk');
          return m.length === (c.expect === 'inbox' ? inbox : junk) ? m : undefined;
        },
        10_000,
        `${c.name} delivered`,
      );
      const mine = box.find((m) => m.includes(`Subject: ${c.name}\r\n`));
      assert.ok(mine !== undefined, c.name);
      const headers = headersOf(mine);
      // One result under our name, right above our Received; the forged one is gone, the other kept.
      assert.equal((headers.match(/^Authentication-Results: barge\.test;/gm) ?? []).length, 1, `${c.name}\n${headers}`);
      assert.match(
        headers,
        /^Delivered-To: bob@barge\.test\r\nAuthentication-Results: barge\.test;[\s\S]*?\r\nReceived: from client\.test/m,
        c.name,
      );
      assert.match(headers, /^Authentication-Results: elsewhere\.example; spf=pass\r$/m, c.name);
      assert.match(headers, new RegExp(`dmarc=${c.dmarc} .*header\\.from=${c.from.replace('.', '\\.')}`), `${c.name}\n${headers}`);
      if (c.signer !== undefined) assert.match(headers, new RegExp(`dkim=pass header\\.i=@${c.signer.replace('.', '\\.')}`), c.name);
      assert.match(headers, /spf=none smtp\.helo=client\.test/, c.name);
    }
    assert.equal((await folder(barge, '')).length, 4);
    assert.equal((await folder(barge, '.Junk')).length, 1);
    const tracked = (await barge.tracking()).filter((r) => r.event === 'authenticated');
    assert.deepEqual(
      tracked.map((r) => (r.event === 'authenticated' ? r.action : '')),
      ['accept', 'reject', 'accept', 'reject', 'junk', 'accept', 'accept'],
    );
  } finally {
    await barge.stop();
    await dns.stop();
  }
});

test('by default a DMARC failure is only tagged; spf_fail = "reject" refuses an SPF fail with 5.7.23', async (t) => {
  const dnsmasq = peer(t, 'dnsmasq');
  if (dnsmasq === undefined) return;
  const dns = await startDns(dnsmasq, records());
  const tagging = await startBarge(outside(dns, ''));
  const strict = await startBarge(outside(dns, 'spf_fail = "reject"'));
  try {
    const tagged = await send(tagging, 'a@spfpass.test', message('reject.test'));
    assert.equal(tagged.code, 250, tagged.raw);
    const [m] = await eventually(
      async () => {
        const box = await folder(tagging, '');
        return box.length > 0 ? box : undefined;
      },
      10_000,
      'tagged delivery',
    );
    assert.match(headersOf(m ?? Buffer.alloc(0)), /dmarc=fail .*header\.from=reject\.test/);
    const refused = await send(strict, 'a@spffail.test', message('spffail.test'));
    assert.equal(refused.code, 550, refused.raw);
    assert.match(refused.raw, /5\.7\.23/);
    const passing = await send(strict, 'a@spfpass.test', message('none.test'));
    assert.equal(passing.code, 250, passing.raw);
  } finally {
    await tagging.stop();
    await strict.stop();
    await dns.stop();
  }
});

test('DNS that never answers holds the reply no longer than the 5 s budget; results are temperror and the message is accepted', async () => {
  // A UDP socket that reads queries and never answers: every lookup times out.
  const sink = createSocket('udp4');
  await new Promise<void>((resolve) => sink.bind(0, '127.0.0.1', resolve));
  const port = sink.address().port;
  const barge = await startBarge(
    `relay_networks = []\nlocal_domains = ["barge.test"]\n[dns]\nservers = ["127.0.0.1:${port}"]\n[listener.smtp]\ndmarc_policy = "enforce"`,
  );
  try {
    const started = Date.now();
    const reply = await send(barge, 'a@reject.test', message('reject.test'));
    const took = Date.now() - started;
    assert.equal(reply.code, 250, reply.raw);
    assert.ok(took >= 4500 && took < 15_000, `reply after ${took} ms`);
    const [m] = await eventually(
      async () => {
        const box = await folder(barge, '');
        return box.length > 0 ? box : undefined;
      },
      10_000,
      'delivery',
    );
    assert.match(
      headersOf(m ?? Buffer.alloc(0)),
      /spf=temperror \(checks took longer than 5000 ms\);\r\n\tdkim=temperror;\r\n\tdmarc=temperror/,
    );
  } finally {
    await barge.stop();
    sink.close();
  }
});
