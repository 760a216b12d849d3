/**
 * Barge facing the internet, over real TLS on loopback: STARTTLS with the generated certificate,
 * injection after STARTTLS, AUTH refused before TLS, AUTH success and failure, the failure rate
 * limit, relay denied unauthenticated and allowed authenticated, the submission listener, the
 * implicit TLS listener, and the W3C log's cs-username.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawSmtp } from '../support/raw-client.js';
import { eventually, startBarge, tempDir, type TestBarge } from '../support/barge.js';
import { hashPassword, updateUsers, usersPath } from '../../src/auth/users.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const PLAIN = (user: string, password: string): string => `AUTH PLAIN ${b64(`\0${user}\0${password}`)}`;

/** A Barge that does not relay for loopback, with alice@example.test (password "s3cret"). */
async function internetBarge(toml = '', flags = {}): Promise<TestBarge> {
  const dir = await tempDir();
  const hash = await hashPassword('s3cret');
  await updateUsers(usersPath(dir), () => [{ name: 'alice@example.test', hash, addresses: ['@alias.test'] }]);
  const log = '[log]\nw3c_fields = ["time", "c-ip", "cs-username", "cs-method", "cs-uri-query", "sc-status"]\n';
  return startBarge(`relay_networks = []\n${toml}\n${log}`, { queueOnly: true, ...flags }, dir);
}

async function ehlo(c: RawSmtp): Promise<string[]> {
  return [...(await c.command('EHLO client.test')).lines];
}

async function starttls(c: RawSmtp): Promise<string> {
  const r = await c.command('STARTTLS');
  assert.equal(r.code, 220, r.raw);
  return (await c.startTls()).leftover;
}

test('STARTTLS with the generated certificate: TLS 1.2+, a fresh EHLO offering AUTH, mail received as ESMTPS', async () => {
  const barge = await internetBarge();
  try {
    const c = await RawSmtp.connect(barge.port);
    await c.reply();
    const before = await ehlo(c);
    assert.ok(before.includes('STARTTLS'));
    assert.ok(!before.some((l) => l.startsWith('AUTH')), 'no AUTH offered in clear text');
    assert.equal(await starttls(c), '');
    const tlsSocket = c.socket as import('node:tls').TLSSocket;
    assert.match(tlsSocket.getProtocol() ?? '', /^TLSv1\.[23]$/);
    assert.match(String(tlsSocket.getPeerCertificate().subject.CN), /barge\.test/);
    const after = await ehlo(c);
    assert.ok(!after.includes('STARTTLS'));
    assert.ok(after.includes('AUTH PLAIN LOGIN'));
    await c.send('MAIL FROM:<a@far.test>\r\nRCPT TO:<bob@localhost>\r\nBDAT 19 LAST\r\nSubject: hi\r\n\r\nhi\r\n');
    const replies = await c.replies(3);
    assert.equal(replies[2]?.code, 250, replies[2]?.raw);
    c.close();
    const received = await eventually(async () => (await barge.tracking()).find((e) => e.event === 'received'));
    assert.ok(received.event === 'received');
    const [id] = await barge.server.spool.list();
    assert.ok(id !== undefined);
    const chunks: Buffer[] = [];
    for await (const b of barge.server.spool.messageStream(id, await barge.server.spool.readEnvelope(id))) chunks.push(b as Buffer);
    assert.match(Buffer.concat(chunks).toString('latin1'), /with ESMTPS/);
  } finally {
    await barge.stop();
  }
});

test('commands pipelined after STARTTLS in the same packet are not obeyed', async () => {
  const barge = await internetBarge();
  try {
    const c = await RawSmtp.connect(barge.port);
    await c.reply();
    await ehlo(c);
    // One write: STARTTLS plus an injected transaction, as in CVE-2011-0411.
    await c.send('STARTTLS\r\nMAIL FROM:<evil@attacker.test>\r\nRCPT TO:<bob@localhost>\r\n');
    const r = await c.reply();
    assert.equal(r.code, 220);
    const { leftover } = await c.startTls();
    assert.equal(leftover, '', 'no clear-text reply to the injected commands');
    // Inside TLS the session is fresh: the injected MAIL never happened, so RCPT is out of sequence.
    assert.equal((await c.command('RCPT TO:<bob@localhost>')).code, 503);
    c.close();
  } finally {
    await barge.stop();
  }
});

test('AUTH: refused before TLS (538), fails with a wrong password (535), succeeds (235), logged as the user', async () => {
  const barge = await internetBarge();
  try {
    const c = await RawSmtp.connect(barge.port);
    await c.reply();
    await ehlo(c);
    const clear = await c.command(PLAIN('alice@example.test', 's3cret'));
    assert.equal(clear.code, 538, clear.raw);
    await starttls(c);
    await ehlo(c);
    assert.match((await c.command(PLAIN('alice@example.test', 'wrong'))).raw, /^535 5\.7\.8 /);
    assert.match((await c.command(PLAIN('Alice@Example.test', 's3cret'))).raw, /^235 2\.7\.0 /);
    // Authenticated: relay to a foreign domain is allowed now.
    assert.equal((await c.command('MAIL FROM:<alice@example.test>')).code, 250);
    assert.equal((await c.command('RCPT TO:<someone@far.test>')).code, 250);
    await c.command('QUIT');
    c.close();
    const log = await eventually(async () => {
      const l = await barge.protocolLog();
      return l.includes('alice@example.test') ? l : undefined;
    });
    assert.match(log, /AUTH PLAIN 535/);
    assert.match(log, /alice@example\.test RCPT TO:<someone@far\.test> 250/);
    assert.doesNotMatch(log, new RegExp(b64('\0alice@example.test\0s3cret').slice(0, 12)), 'no credentials in the log');
  } finally {
    await barge.stop();
  }
});

test('relay is denied (554 5.7.1) without AUTH from outside the relay networks', async () => {
  const barge = await internetBarge();
  try {
    const c = await RawSmtp.connect(barge.port);
    await c.reply();
    await ehlo(c);
    await c.command('MAIL FROM:<a@far.test>');
    assert.match((await c.command('RCPT TO:<victim@elsewhere.test>')).raw, /^554 5\.7\.1 /);
    assert.equal((await c.command('RCPT TO:<bob@localhost>')).code, 250, 'local mail is still taken');
    c.close();
  } finally {
    await barge.stop();
  }
});

test('failed AUTH is rate-limited per client IP: after the limit even the right password gets 454 4.7.0', async () => {
  const barge = await internetBarge('[auth]\nmax_failures = 3\nfailure_window = "10m"');
  try {
    const c = await RawSmtp.connect(barge.port);
    await c.reply();
    await ehlo(c);
    await starttls(c);
    await ehlo(c);
    for (let i = 0; i < 3; i++) assert.equal((await c.command(PLAIN('alice@example.test', `guess${i}`))).code, 535);
    assert.match((await c.command(PLAIN('alice@example.test', 's3cret'))).raw, /^454 4\.7\.0 /);
    c.close();
  } finally {
    await barge.stop();
  }
});

test("the submission listener requires TLS and AUTH, and MAIL FROM must be the user's", async () => {
  const barge = await internetBarge('', { listenSubmission: '127.0.0.1:0' });
  try {
    const port = barge.server.addresses.find((a) => a.name === 'submission')?.port;
    assert.ok(port !== undefined);
    const c = await RawSmtp.connect(port);
    await c.reply();
    await ehlo(c);
    assert.match((await c.command('MAIL FROM:<alice@example.test>')).raw, /^530 5\.7\.0 Must issue a STARTTLS/);
    await starttls(c);
    await ehlo(c);
    assert.match((await c.command('MAIL FROM:<alice@example.test>')).raw, /^530 5\.7\.0 Authentication required/);
    assert.equal((await c.command(PLAIN('alice@example.test', 's3cret'))).code, 235);
    assert.match((await c.command('MAIL FROM:<mallory@example.test>')).raw, /^553 5\.7\.1 /);
    assert.equal((await c.command('MAIL FROM:<anything@alias.test>')).code, 250, 'an @domain alias');
    c.close();
  } finally {
    await barge.stop();
  }
});

test('the implicit TLS listener speaks TLS from the first byte and greets inside it', async () => {
  const barge = await internetBarge('', { listenTls: '127.0.0.1:0' });
  try {
    const port = barge.server.addresses.find((a) => a.name === 'submissions')?.port;
    assert.ok(port !== undefined);
    const c = await RawSmtp.connectTls(port);
    assert.equal((await c.reply()).code, 220);
    const lines = await ehlo(c);
    assert.ok(!lines.includes('STARTTLS'), 'no STARTTLS inside TLS');
    assert.ok(lines.includes('AUTH PLAIN LOGIN'));
    assert.equal((await c.command(`AUTH LOGIN ${b64('alice@example.test')}`)).code, 334);
    assert.equal((await c.command(b64('s3cret'))).code, 235);
    c.close();
    // A clear-text client on that port gets no SMTP greeting.
    const plain = await RawSmtp.connect(port);
    await assert.rejects(plain.reply(1500));
    plain.close();
  } finally {
    await barge.stop();
  }
});
