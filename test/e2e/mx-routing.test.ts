/** MX routing against a real DNS server on loopback: preference order, fallback, A records, null MX, NXDOMAIN. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawSmtp } from '../support/raw-client.js';
import { eventually, startBarge, type TestBarge } from '../support/barge.js';
import { fakePeer } from '../support/fake-peer.js';
import { startDns } from '../support/dns.js';
import { peer as installed } from '../support/peers.js';

async function submit(barge: TestBarge, to: string): Promise<void> {
  const c = await RawSmtp.connect(barge.port);
  await c.reply();
  await c.command('EHLO client.test');
  await c.send(`MAIL FROM:<alice@localhost>\r\nRCPT TO:<${to}>\r\nBDAT 15 LAST\r\nSubject: mx\r\n\r\n`);
  assert.deepEqual(
    (await c.replies(3)).map((r) => r.code),
    [250, 250, 250],
  );
  c.close();
}

test('MX by preference, next MX when the first is down, A fallback, null MX and NXDOMAIN bounce', async (t) => {
  const dnsmasq = installed(t, 'dnsmasq');
  if (dnsmasq === undefined) return;
  const peer = await fakePeer();
  const dns = await startDns(dnsmasq, [
    // mx1 (preferred) points at 127.0.0.2 where nothing listens; mx2 at the peer.
    '--mx-host=multi.test,mx1.multi.test,10',
    '--mx-host=multi.test,mx2.multi.test,20',
    '--host-record=mx1.multi.test,127.0.0.2',
    '--host-record=mx2.multi.test,127.0.0.1',
    '--host-record=amx.test,127.0.0.1',
    '--mx-host=nullmx.test,.,0',
  ]);
  const barge = await startBarge(`[dns]\nservers = ["${dns.server}"]\n[delivery]\nport = ${peer.port}`);
  try {
    await submit(barge, 'bob@multi.test');
    await submit(barge, 'carol@amx.test');
    await eventually(async () => (peer.received.length === 2 ? true : undefined), 15_000, 'two deliveries');
    // The peer has the messages before Barge records its 250: wait for both tracking events.
    const delivered = await eventually(
      async () => {
        const events = (await barge.tracking()).filter((e) => e.event === 'delivered');
        return events.length === 2 ? events : undefined;
      },
      15_000,
      'two delivered events',
    );
    assert.ok(
      delivered.some((e) => e.event === 'delivered' && e.rcpt === 'bob@multi.test' && e.detail.startsWith('mx2.multi.test ')),
      JSON.stringify(delivered),
    );
    assert.ok(delivered.some((e) => e.event === 'delivered' && e.rcpt === 'carol@amx.test' && e.detail.startsWith('amx.test ')));

    await submit(barge, 'dave@nullmx.test');
    await submit(barge, 'erin@nowhere.test');
    const box = await eventually(
      async () => {
        const b = await barge.mailbox('alice@localhost');
        return b.length === 2 ? b : undefined;
      },
      15_000,
      'two bounces',
    );
    const texts = box.map((m) => m.toString('latin1')).join('\n');
    assert.match(texts, /Final-Recipient: rfc822; dave@nullmx\.test[\s\S]*?Status: 5\.1\.10/);
    assert.match(texts, /Final-Recipient: rfc822; erin@nowhere\.test[\s\S]*?Status: 5\.1\.2/);
    assert.equal(peer.received.length, 2, 'nothing else reached the peer');
  } finally {
    await barge.stop();
    await peer.close();
    await dns.stop();
  }
});
