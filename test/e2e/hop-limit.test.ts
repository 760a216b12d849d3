/**
 * Hop counting at default settings (max_hops = 50, Barge's own Received: counted): a message that
 * arrives with 50 or more Received: fields is a loop, refused 554 5.4.6 at the end of DATA or BDAT
 * after its whole body; the session stays in step and nothing reaches the queue.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawSmtp } from '../support/raw-client.js';
import { eventually, startBarge } from '../support/barge.js';
import { withHops } from '../support/trace.js';
import { submitBdat } from '../support/submit.js';

test('51 Received: fields are refused 554 5.4.6 at the end of DATA and of BDAT; the session goes on; 49 are taken', async () => {
  const barge = await startBarge();
  try {
    const c = await RawSmtp.connect(barge.port);
    await c.reply();
    await c.command('EHLO client.test');
    const big = withHops(51, 'x'.repeat(200_000).replace(/(.{900})/g, '$1\r\n'));
    await c.send(`MAIL FROM:<a@localhost>\r\nRCPT TO:<bob@localhost>\r\nDATA\r\n`);
    assert.deepEqual(
      (await c.replies(3)).map((r) => r.code),
      [250, 250, 354],
    );
    await c.send(`${big}\r\n.\r\nNOOP\r\n`);
    const [refused, noop] = await c.replies(2);
    assert.equal(refused?.code, 554, refused?.raw);
    assert.match(refused?.raw ?? '', /^554 5\.4\.6 Too many hops: 52 Received: fields \(at most 50\)/);
    assert.equal(noop?.code, 250, 'the body was consumed: NOOP is read as a command');

    // BDAT: the trace spans two chunks; the first is acknowledged, LAST is refused.
    const content = Buffer.from(withHops(51));
    const cut = 1500;
    await c.send(`MAIL FROM:<a@localhost>\r\nRCPT TO:<bob@localhost>\r\nBDAT ${cut}\r\n`);
    await c.send(
      Buffer.concat([
        content.subarray(0, cut),
        Buffer.from(`BDAT ${content.length - cut} LAST\r\n`),
        content.subarray(cut),
        Buffer.from('RSET\r\n'),
      ]),
    );
    assert.deepEqual(
      (await c.replies(5)).map((r) => `${r.code} ${r.lines[0]?.split(' ')[0] ?? ''}`),
      ['250 2.1.0', '250 2.1.5', '250 2.0.0', '554 5.4.6', '250 2.0.0'],
    );

    const ok = withHops(49);
    await c.send(`MAIL FROM:<a@localhost>\r\nRCPT TO:<bob@localhost>\r\nBDAT ${ok.length} LAST\r\n${ok}`);
    assert.deepEqual(
      (await c.replies(3)).map((r) => r.code),
      [250, 250, 250],
    );
    await c.command('QUIT');
    c.close();

    const box = await eventually(
      async () => {
        const b = await barge.mailbox('bob@localhost');
        return b.length > 0 ? b : undefined;
      },
      10_000,
      'the 49-hop message',
    );
    assert.equal(box.length, 1);
    const tracking = await barge.tracking();
    const rejected = tracking.filter((e) => e.event === 'rejected');
    assert.equal(rejected.length, 2, JSON.stringify(rejected));
    for (const r of rejected) assert.ok(r.event === 'rejected' && /too many hops/.test(r.reason));
    assert.equal(tracking.filter((e) => e.event === 'received').length, 1);
  } finally {
    await barge.stop();
  }
});

test('two Barges routing a domain to each other: the hop count ends the ping-pong after 50 receptions, with a bounce', async () => {
  const ping = await startBarge('', { hostname: 'ping.test' });
  const pong = await startBarge(`[routes]\n"pingpong.test" = "127.0.0.1:${ping.port}"`, { hostname: 'pong.test' });
  // Each routes the domain to the other: no next hop is itself, so only the hop count can stop it.
  await ping.stop();
  const again = await startBarge(
    `[routes]\n"pingpong.test" = "127.0.0.1:${pong.port}"`,
    { hostname: 'ping.test', listen: [`127.0.0.1:${ping.port}`] },
    ping.dataDir,
  );
  try {
    await submitBdat(again, 'bob@pingpong.test', 'Subject: ping\r\n\r\nhello\r\n');
    const receptions = async (): Promise<number> =>
      (await Promise.all([again, pong].map(async (b) => (await b.tracking()).filter((e) => e.event === 'received').length))).reduce(
        (a, b) => a + b,
        0,
      );
    const bounce = await eventually(
      async () => {
        for (const b of [again, pong]) {
          const box = await b.mailbox('alice@localhost');
          if (box.length > 0) return box.map((m) => m.toString('latin1')).join('\n');
        }
        return undefined;
      },
      60_000,
      'the bounce',
    );
    assert.match(bounce, /Status: 5\.4\.6/);
    assert.match(bounce, /554 5\.4\.6 Too many hops: 51 Received: fields/);
    assert.equal(await receptions(), 50, 'received by the first Barge, then relayed 49 times');
  } finally {
    await again.stop();
    await pong.stop();
  }
});
