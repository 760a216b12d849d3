/** Exim delivers to Barge: with BDAT when CHUNKING is offered, with DATA when Barge turns it off. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, startBarge, stripBargeHeaders, tempDir } from '../support/barge.js';
import { eximClient } from '../support/exim.js';
import { peer } from '../support/peers.js';

const MESSAGE = Buffer.from(
  'Subject: from exim\r\nX-Check: kept\r\n\r\n8-bit body: caf\xe9\r\n.leading dot\r\n\r\n.\r\nlast line\r\n',
  'latin1',
);

/** Exim adds its own Received/Message-Id/From/Date headers; the body after the blank line is ours. */
const bodyOf = (m: Buffer): Buffer => m.subarray(m.indexOf('\r\n\r\n') + 4);

for (const chunking of [true, false]) {
  test(`Exim sends to Barge ${chunking ? 'with BDAT' : 'with DATA when CHUNKING is off'}`, async (t) => {
    const exim = peer(t, 'exim4');
    if (exim === undefined) return;
    const barge = await startBarge(chunking ? '' : '[listener.smtp]\nchunking = false');
    try {
      const client = await eximClient(exim, await tempDir('barge-exim-'), barge.port);
      await client.send('bob@localhost', MESSAGE);
      const [delivered] = await eventually(
        async () => {
          const box = await barge.mailbox('bob@localhost');
          return box.length > 0 ? box : undefined;
        },
        15_000,
        'delivery',
      );
      assert.ok(delivered !== undefined);
      const content = stripBargeHeaders(delivered);
      assert.ok(bodyOf(content).equals(bodyOf(MESSAGE)), 'body differs');
      assert.match(content.toString('latin1'), /^X-Check: kept\r$/m);
      // Exim takes Barge's STARTTLS (offered with the generated certificate) before sending.
      assert.match(delivered.toString('latin1'), /with ESMTPS \(/);
      const received = (await barge.tracking()).find((r) => r.event === 'received');
      assert.ok(received?.event === 'received');
      assert.equal(received.method, chunking ? 'BDAT' : 'DATA');
      assert.equal(received.helo, 'exim.test');
      // Exim marks a delivery made with CHUNKING by the K flag in its main log.
      const delivery = (await client.mainLog()).split('\n').find((l) => l.includes('=> bob@localhost'));
      assert.ok(delivery !== undefined, 'Exim logged the delivery');
      assert.equal(/ K /.test(delivery), chunking, delivery);
    } finally {
      await barge.stop();
    }
  });
}
