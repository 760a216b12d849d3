/** Barge delivers to Exim: with BDAT when Exim offers CHUNKING (Exim logs K), with DATA when the outbound mask is 5. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawSmtp } from '../support/raw-client.js';
import { eventually, startBarge, tempDir } from '../support/barge.js';
import { eximServer } from '../support/exim.js';
import { peer } from '../support/peers.js';
import { generateSelfSigned } from '../../src/server/tls.js';

const BODY = 'first line\r\n.dot line\r\n8-bit: caf\xe9\r\n';

for (const mask of [7, 5]) {
  test(`Barge delivers to Exim ${mask === 7 ? 'with BDAT' : 'with DATA (outbound_command_support = 5)'}`, async (t) => {
    const exim = peer(t, 'exim4');
    if (exim === undefined) return;
    const receiver = await eximServer(exim, await tempDir('barge-exim-rx-'));
    const sender = await startBarge(`[delivery]\noutbound_command_support = ${mask}`, { route: [`exim.test=127.0.0.1:${receiver.port}`] });
    try {
      const message = Buffer.from(`Subject: to exim\r\nX-Check: kept\r\n\r\n${BODY}`, 'latin1');
      const c = await RawSmtp.connect(sender.port);
      await c.reply();
      await c.command('EHLO client.test');
      await c.send(
        Buffer.concat([
          Buffer.from(`MAIL FROM:<alice@localhost> BODY=8BITMIME\r\nRCPT TO:<bob@exim.test>\r\nBDAT ${message.length} LAST\r\n`),
          message,
        ]),
      );
      assert.deepEqual(
        (await c.replies(3)).map((r) => r.code),
        [250, 250, 250],
      );
      c.close();
      const [got] = await eventually(
        async () => {
          const m = await receiver.messages();
          return m.length > 0 ? m : undefined;
        },
        15_000,
        'Exim to store the message',
      );
      assert.ok(got !== undefined);
      assert.ok(
        got.toString('latin1').endsWith(`\r\n\r\n${BODY}`) || got.toString('latin1').endsWith(`\n\n${BODY.replaceAll('\r\n', '\n')}`),
        got.toString('latin1'),
      );
      assert.match(got.toString('latin1'), /X-Check: kept/);
      const reception = (await receiver.mainLog()).split('\n').find((l) => l.includes('<= alice@localhost'));
      assert.ok(reception !== undefined, 'Exim logged the reception');
      // Exim marks a message received by CHUNKING with K.
      assert.equal(/ K /.test(reception), mask === 7, reception);
      const delivered = await eventually(
        async () => (await sender.tracking()).find((e) => e.event === 'delivered'),
        5000,
        'delivered record',
      );
      assert.ok(delivered.event === 'delivered');
      // A new destination: a non-final check chunk first, then the rest as BDAT LAST.
      assert.match(delivered.detail, mask === 7 ? / BDAT\/2: / : / DATA: /);
    } finally {
      await sender.stop();
      await receiver.stop();
    }
  });
}

test('Barge delivers to Exim over STARTTLS with BDAT (Exim logs the TLS cipher and K)', async (t) => {
  const exim = peer(t, 'exim4');
  if (exim === undefined) return;
  const receiver = await eximServer(exim, await tempDir('barge-exim-tls-'), await generateSelfSigned('exim.test'));
  const sender = await startBarge('', { route: [`exim.test=127.0.0.1:${receiver.port}`] });
  try {
    const message = Buffer.from(`Subject: to exim over TLS\r\n\r\n${BODY}`, 'latin1');
    const c = await RawSmtp.connect(sender.port);
    await c.reply();
    await c.command('EHLO client.test');
    await c.send(
      Buffer.concat([
        Buffer.from(`MAIL FROM:<alice@localhost> BODY=8BITMIME\r\nRCPT TO:<bob@exim.test>\r\nBDAT ${message.length} LAST\r\n`),
        message,
      ]),
    );
    assert.deepEqual(
      (await c.replies(3)).map((r) => r.code),
      [250, 250, 250],
    );
    c.close();
    await eventually(async () => ((await receiver.messages()).length > 0 ? true : undefined), 15_000, 'Exim to store the message');
    const reception = (await receiver.mainLog()).split('\n').find((l) => l.includes('<= alice@localhost'));
    assert.ok(reception !== undefined, 'Exim logged the reception');
    assert.match(reception, / X=TLS1\.[23]/, reception);
    assert.match(reception, / K /, reception);
  } finally {
    await sender.stop();
    await receiver.stop();
  }
});
