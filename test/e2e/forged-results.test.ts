/**
 * Authentication-Results fields that claim Barge's authserv-id never reach a mailbox, on every ingress
 * (outside mail that is checked, the relay networks, an AUTH client, a listener with mail_auth off),
 * however they are written (trailing dot, quoted, nested comments, case, folded) and wherever they
 * are (above 383 KB of other fields); fields of other hosts stay byte for byte. And the MAIL FROM
 * injection into Barge's own field: a reader following RFC 5322 sees only the results Barge computed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawSmtp } from '../support/raw-client.js';
import { eventually, startBarge, tempDir, type TestBarge } from '../support/barge.js';
import { startDns } from '../support/dns.js';
import { peer } from '../support/peers.js';
import { assertOnlyComputed, authResultsFields, readAuthResults } from '../support/auth-results-reader.js';
import { hashPassword, updateUsers, usersPath } from '../../src/auth/users.js';

const FORGED = [
  'Authentication-Results: barge.test.; dkim=pass header.d=paypal.com\r\n',
  'Authentication-Results: "barge.test"; dkim=pass header.d=paypal.com\r\n',
  'Authentication-Results: ((x)) barge.test; dmarc=pass header.from=paypal.com\r\n',
  'AUTHENTICATION-RESULTS:\r\n  BARGE.TEST;\r\n\tspf=pass smtp.mailfrom=paypal.com\r\n',
];
const FOREIGN = 'Authentication-Results: elsewhere.example; spf=pass smtp.mailfrom=sender.example\r\n';
const PADDING = `X-Padding: ${'p'.repeat(986)}\r\n`.repeat(383);

function forgedMessage(subject: string): Buffer {
  const [first = '', ...rest] = FORGED;
  return Buffer.from(
    `${first}${FOREIGN}${PADDING}${rest.join('')}From: someone@sender.example\r\nTo: bob@barge.test\r\n` +
      `Subject: ${subject}\r\n\r\nhello\r\n`,
  );
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

async function deliver(barge: TestBarge, method: 'DATA' | 'BDAT', from: string, bytes: Buffer, user?: string): Promise<string> {
  const c = await RawSmtp.connect(barge.port);
  await c.reply();
  await c.command('EHLO client.test');
  if (user !== undefined) assert.equal((await c.command(`AUTH PLAIN ${b64(`\0${user}\0s3cret`)}`)).code, 235);
  assert.equal((await c.command(`MAIL FROM:<${from}>`)).code, 250);
  assert.equal((await c.command('RCPT TO:<bob@barge.test>')).code, 250);
  if (method === 'DATA') {
    assert.equal((await c.command('DATA')).code, 354);
    await c.send(Buffer.concat([bytes, Buffer.from('.\r\n')]));
  } else await c.send(Buffer.concat([Buffer.from(`BDAT ${bytes.length} LAST\r\n`), bytes]));
  const reply = await c.reply(20_000);
  c.close();
  assert.equal(reply.code, 250, reply.raw);
  const [m] = await eventually(
    async () => {
      const box = await barge.mailbox('bob@barge.test');
      return box.length > 0 ? box : undefined;
    },
    10_000,
    'delivery',
  );
  return (m ?? Buffer.alloc(0)).toString('latin1');
}

const naming = (field: string): string => readAuthResults(field).authservId.toLowerCase().replace(/\.+$/, '');

function assertOnlyOurs(message: string, checked: boolean, what: string): void {
  const fields = authResultsFields(message);
  const ours = fields.filter((f) => naming(f) === 'barge.test');
  assert.equal(ours.length, checked ? 1 : 0, `${what}:\n${fields.join('')}`);
  if (checked)
    assert.match(message, /^Return-Path: .*\r\nDelivered-To: bob@barge\.test\r\nAuthentication-Results: barge\.test;\r\n\t/, what);
  assert.ok(!fields.some((f) => /paypal\.com/.test(f)), `${what}: a forged result survived`);
  assert.ok(message.includes(FOREIGN), `${what}: the other host's field is kept as it was`);
  assert.ok(message.includes(PADDING), what);
}

test('forged results are removed on every ingress: outside (checked), relay network, AUTH client, mail_auth off', async (t) => {
  const dnsmasq = peer(t, 'dnsmasq');
  if (dnsmasq === undefined) return;
  const dns = await startDns(dnsmasq, ['--txt-record=sender.example,v=spf1 ip4:127.0.0.1 -all']);
  const dir = await tempDir();
  const hash = await hashPassword('s3cret');
  await updateUsers(usersPath(dir), () => [{ name: 'alice@sender.example', hash, addresses: [] }]);
  const domains = `local_domains = ["barge.test"]\n[dns]\nservers = ["${dns.server}"]\n`;
  const cases = [
    { what: 'outside', toml: `relay_networks = []\n${domains}`, method: 'BDAT', user: undefined, checked: true },
    { what: 'relay network', toml: domains, method: 'DATA', user: undefined, checked: false },
    {
      what: 'AUTH client',
      toml: `relay_networks = []\n${domains}[listener.smtp]\nauth_cleartext = true\n`,
      method: 'BDAT',
      user: 'alice@sender.example',
      checked: false,
    },
    {
      what: 'mail_auth off',
      toml: `relay_networks = []\n${domains}[listener.smtp]\nmail_auth = false\n`,
      method: 'DATA',
      user: undefined,
      checked: false,
    },
  ] as const;
  try {
    for (const c of cases) {
      const barge = await startBarge(c.toml, {}, c.user === undefined ? undefined : dir);
      try {
        const message = await deliver(barge, c.method, 'someone@sender.example', forgedMessage(c.what), c.user);
        assertOnlyOurs(message, c.checked, c.what);
      } finally {
        await barge.stop();
      }
    }
  } finally {
    await dns.stop();
  }
});

test('the MAIL FROM injection stays inside smtp.mailfrom: a reader sees dkim and spf only as Barge computed them', async (t) => {
  const dnsmasq = peer(t, 'dnsmasq');
  if (dnsmasq === undefined) return;
  // The sender's domain permits the client, so the SPF result's comment names the sender too.
  const dns = await startDns(dnsmasq, ['--txt-record=sender.example,v=spf1 ip4:127.0.0.1 -all']);
  const barge = await startBarge(`relay_networks = []\nlocal_domains = ["barge.test"]\n[dns]\nservers = ["${dns.server}"]\n`);
  try {
    const injection = '");dkim=pass header.d=paypal.com header.i=@paypal.com;("@sender.example';
    const message = await deliver(barge, 'BDAT', injection, Buffer.from('From: someone@sender.test\r\nSubject: injected\r\n\r\nhello\r\n'));
    const [field = ''] = authResultsFields(message);
    assertOnlyComputed(field, ['dkim=none', 'spf=pass', 'spf=none', 'dmarc=none'], injection);
    const tracked = (await barge.tracking()).find((r) => r.event === 'authenticated');
    assert.ok(tracked?.event === 'authenticated' && tracked.results.startsWith('barge.test; dkim=none'), JSON.stringify(tracked));
  } finally {
    await barge.stop();
    await dns.stop();
  }
});
