/**
 * Mail must not loop: a next hop that is Barge itself (a route, an MX in DNS, a peer greeting with
 * Barge's own name) fails "5.4.6 mail for DOMAIN loops back to myself"; a DSN that would loop is
 * bounced once and dropped (it comes from the null sender); a queued message with too many
 * Received: fields is bounced rather than sent again. DNS is dnsmasq on loopback.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { RawSmtp } from '../support/raw-client.js';
import { eventually, startBarge, tempDir, type TestBarge } from '../support/barge.js';
import { fakePeer } from '../support/fake-peer.js';
import { freePort, startDns } from '../support/dns.js';
import { peer as installed, run } from '../support/peers.js';
import { withHops } from '../support/trace.js';

const BIN = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..', 'bin', 'barge.js');

/** Barge on a port known before it starts, so its own config can point at itself. */
async function startOn(toml: (port: number) => string, dataDir?: string): Promise<TestBarge> {
  const port = await freePort();
  return startBarge(toml(port), { listen: [`127.0.0.1:${port}`] }, dataDir);
}

async function submit(barge: TestBarge, from: string, rcpts: readonly string[]): Promise<void> {
  const c = await RawSmtp.connect(barge.port);
  await c.reply();
  await c.command('EHLO client.test');
  const body = 'Subject: loop?\r\n\r\nhello\r\n';
  await c.send(`MAIL FROM:<${from}>\r\n${rcpts.map((r) => `RCPT TO:<${r}>\r\n`).join('')}BDAT ${body.length} LAST\r\n${body}`);
  assert.deepEqual(
    (await c.replies(rcpts.length + 2)).map((r) => r.code),
    Array<number>(rcpts.length + 2).fill(250),
  );
  c.close();
}

async function bounces(barge: TestBarge, address: string, n: number): Promise<string> {
  const box = await eventually(
    async () => {
      const b = await barge.mailbox(address);
      return b.length >= n ? b : undefined;
    },
    15_000,
    `${n} bounce(s) for ${address}`,
  );
  return box.map((m) => m.toString('latin1')).join('\n');
}

async function received(barge: TestBarge): Promise<number> {
  return (await barge.tracking()).filter((e) => e.event === 'received').length;
}

test('a route pointing at Barge itself, by address or by name, fails 5.4.6 "mail for DOMAIN loops back to myself", once', async () => {
  // "localhost" is resolved by the system when connecting: the address reached is checked too.
  const barge = await startOn((port) => `[routes]\n"loop.test" = "127.0.0.1:${port}"\n"named.test" = "localhost:${port}"`);
  try {
    await submit(barge, 'alice@localhost', ['bob@loop.test', 'carol@named.test']);
    const text = await bounces(barge, 'alice@localhost', 1);
    assert.match(text, /Final-Recipient: rfc822; bob@loop\.test[\s\S]*?Status: 5\.4\.6[\s\S]*?mail for loop\.test loops back to myself/);
    assert.match(
      text,
      /Final-Recipient: rfc822; carol@named\.test[\s\S]*?Status: 5\.4\.6[\s\S]*?mail for named\.test loops back to myself/,
    );
    assert.equal(await received(barge), 1, 'the message was received once, never from itself');
  } finally {
    await barge.stop();
  }
});

test('MX: Barge as the best MX is a loop; as a backup MX only better MXs are tried (RFC 5321 5.1)', async (t) => {
  const dnsmasq = installed(t, 'dnsmasq');
  if (dnsmasq === undefined) return;
  const port = await freePort();
  // Another host of the same port: 127.0.0.2 is this machine too, but not Barge's listener.
  const peer = await fakePeer({}, { host: '127.0.0.2', port });
  const dns = await startDns(dnsmasq, [
    '--mx-host=self.test,mx.self.test,10',
    '--host-record=mx.self.test,127.0.0.1',
    '--mx-host=backup.test,mx.other.test,10',
    '--mx-host=backup.test,mx.self.test,20',
    '--mx-host=best.test,mx.self.test,10',
    '--mx-host=best.test,mx.other.test,20',
    '--host-record=mx.other.test,127.0.0.2',
  ]);
  const barge = await startBarge(`[dns]\nservers = ["${dns.server}"]\n[delivery]\nport = ${port}`, { listen: [`127.0.0.1:${port}`] });
  try {
    await submit(barge, 'alice@localhost', ['bob@self.test', 'carol@backup.test', 'dave@best.test']);
    // One report for both failed recipients (they failed in the same attempt).
    const text = await bounces(barge, 'alice@localhost', 1);
    assert.match(text, /Final-Recipient: rfc822; bob@self\.test[\s\S]*?Status: 5\.4\.6[\s\S]*?mail for self\.test loops back to myself/);
    assert.match(text, /Final-Recipient: rfc822; dave@best\.test[\s\S]*?Status: 5\.4\.6[\s\S]*?mail for best\.test loops back to myself/);
    await eventually(async () => (peer.received.length > 0 ? true : undefined), 15_000, 'delivery to the better MX');
    assert.deepEqual(
      peer.received.map((m) => m.rcpts),
      [['carol@backup.test']],
      'the less preferred MX after Barge is never used',
    );
    assert.equal(await received(barge), 1);
  } finally {
    await barge.stop();
    await peer.close();
    await dns.stop();
  }
});

test("a peer greeting or answering EHLO with Barge's own name is Barge itself: 5.4.6, nothing sent", async () => {
  const greets = await fakePeer({ name: 'barge.test' });
  const answers = await fakePeer({ ehloName: 'BARGE.TEST' });
  const barge = await startBarge(`[routes]\n"mirror.test" = "127.0.0.1:${greets.port}"\n"echo.test" = "127.0.0.1:${answers.port}"`);
  try {
    await submit(barge, 'alice@localhost', ['bob@mirror.test', 'carol@echo.test']);
    const text = await bounces(barge, 'alice@localhost', 1);
    assert.match(text, /mail for mirror\.test loops back to myself/);
    assert.match(text, /mail for echo\.test loops back to myself/);
    assert.equal(greets.received.length + answers.received.length, 0);
  } finally {
    await barge.stop();
    await greets.close();
    await answers.close();
  }
});

test('success and failure DSNs to a sender whose MX is Barge itself are bounced once and dropped, never re-sent', async (t) => {
  const dnsmasq = installed(t, 'dnsmasq');
  if (dnsmasq === undefined) return;
  const peer = await fakePeer({ rcpt: (a) => (a.startsWith('carol@') ? '550 5.1.1 no such user' : '250 2.1.5 OK') });
  const dns = await startDns(dnsmasq, ['--mx-host=loopy.test,mx.loopy.test,10', '--host-record=mx.loopy.test,127.0.0.1']);
  const barge = await startOn(
    (port) => `[dns]\nservers = ["${dns.server}"]\n[routes]\n"far.test" = "127.0.0.1:${peer.port}"\n[delivery]\nport = ${port}`,
  );
  try {
    const c = await RawSmtp.connect(barge.port);
    await c.reply();
    await c.command('EHLO client.test');
    await c.send(
      'MAIL FROM:<alice@loopy.test>\r\nRCPT TO:<bob@far.test> NOTIFY=SUCCESS\r\nRCPT TO:<carol@far.test>\r\nBDAT 16 LAST\r\nSubject: dsn\r\n\r\n',
    );
    assert.deepEqual(
      (await c.replies(4)).map((r) => r.code),
      [250, 250, 250, 250],
    );
    c.close();
    const dropped = await eventually(
      async () => {
        const b = (await barge.tracking()).filter((e) => e.event === 'bounced' && e.rcpt === 'alice@loopy.test');
        return b.length === 2 ? b : undefined;
      },
      15_000,
      'both DSNs bounced',
    );
    for (const e of dropped) assert.ok(e.event === 'bounced' && /mail for loopy\.test loops back to myself/.test(e.reason));
    // Give a loop time to show itself: nothing more is received, delivered or generated.
    await new Promise((r) => setTimeout(r, 1500));
    const tracking = await barge.tracking();
    assert.equal(tracking.filter((e) => e.event === 'received').length, 1);
    assert.equal(tracking.filter((e) => e.event === 'bounced').length, 3, 'carol, then the two DSNs; no DSN about a DSN');
    assert.equal(peer.received.length, 1);
    assert.deepEqual(await barge.server.spool.list(), [], 'the queue is empty');
  } finally {
    await barge.stop();
    await peer.close();
    await dns.stop();
  }
});

test('a queued message with 51 Received: fields (put in the spool by barge send) is bounced 5.4.6, not sent', async () => {
  const peer = await fakePeer();
  const dir = await tempDir();
  const sent = await run(
    process.execPath,
    [BIN, 'send', '--from', 'alice@localhost', '--to', 'bob@far.test', '--data-dir', dir],
    withHops(51),
  );
  assert.equal(sent.code, 0, sent.stderr);
  const barge = await startBarge(`[routes]\n"far.test" = "127.0.0.1:${peer.port}"`, {}, dir);
  try {
    const text = await bounces(barge, 'alice@localhost', 1);
    assert.match(
      text,
      /Final-Recipient: rfc822; bob@far\.test[\s\S]*?Status: 5\.4\.6[\s\S]*?too many hops: 51 Received: fields \(at most 50\)/,
    );
    assert.equal(peer.received.length, 0);
  } finally {
    await barge.stop();
    await peer.close();
  }
});
