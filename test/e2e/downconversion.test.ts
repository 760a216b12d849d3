/** A binary or 8-bit message to a peer that cannot take it as it is arrives converted to base64 MIME. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { RawSmtp } from '../support/raw-client.js';
import { eventually, startBarge } from '../support/barge.js';
import { fakePeer } from '../support/fake-peer.js';

const cases = [
  {
    name: 'BINARYMIME to a peer with CHUNKING but no BINARYMIME',
    keywords: ['PIPELINING', 'CHUNKING', '8BITMIME'],
    body: 'BINARYMIME',
    method: 'BDAT',
  },
  { name: '8BITMIME to a peer without 8BITMIME (DATA only)', keywords: ['PIPELINING'], body: '8BITMIME', method: 'DATA' },
] as const;

for (const c of cases) {
  test(`${c.name}: parts re-encoded as base64, content intact, conversion noted`, async () => {
    const peer = await fakePeer({ keywords: [...c.keywords] });
    const barge = await startBarge('', { route: [`remote.test=127.0.0.1:${peer.port}`] });
    try {
      const payload =
        c.body === 'BINARYMIME'
          ? Buffer.concat([randomBytes(200_000), Buffer.from('\r\n.\r\n\0')])
          : Buffer.from('caf\u00e9 \u2603\r\n'.repeat(100), 'utf8');
      const head = Buffer.from(
        'Subject: convert me\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="XX"\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nplain text\r\n--XX\r\n' +
          `Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: ${c.body === 'BINARYMIME' ? 'binary' : '8bit'}\r\n\r\n`,
      );
      const message = Buffer.concat([head, payload, Buffer.from('\r\n--XX--\r\n')]);
      const s = await RawSmtp.connect(barge.port);
      await s.reply();
      await s.command('EHLO client.test');
      await s.send(
        Buffer.concat([
          Buffer.from(`MAIL FROM:<alice@localhost> BODY=${c.body}\r\nRCPT TO:<bob@remote.test>\r\nBDAT ${message.length} LAST\r\n`),
          message,
        ]),
      );
      assert.deepEqual(
        (await s.replies(3)).map((r) => r.code),
        [250, 250, 250],
      );
      s.close();
      await eventually(async () => (peer.received.length > 0 ? true : undefined), 15_000, 'delivery');
      const got = peer.received[0];
      assert.equal(got?.method, c.method);
      assert.doesNotMatch(got?.commands[0] ?? '', /BODY=(BINARYMIME|8BITMIME)/);
      const text = got?.body.toString('latin1') ?? '';
      assert.ok(![...(got?.body ?? [])].some((byte) => byte > 0x7f), 'the converted message is 7-bit');
      assert.match(text, /^X-Barge-Converted: /m);
      assert.match(text, /Subject: convert me\r\n/);
      assert.match(text, /Content-Type: text\/plain\r\n\r\nplain text\r\n--XX/, 'a 7-bit part is left alone');
      const encoded = /Content-Transfer-Encoding: base64\r\n\r\n([A-Za-z0-9+/=\r\n]+?)\r\n--XX--/.exec(text)?.[1];
      assert.ok(encoded !== undefined, 'the 8-bit part is base64');
      for (const line of encoded.split('\r\n')) assert.ok(line.length <= 76);
      assert.ok(Buffer.from(encoded.replaceAll('\r\n', ''), 'base64').equals(payload), 'content decodes to the original bytes');
      const delivered = await eventually(async () => (await barge.tracking()).find((e) => e.event === 'delivered'), 5000, 'tracking');
      assert.ok(delivered.event === 'delivered');
      assert.match(delivered.detail, /converted to base64/);
    } finally {
      await barge.stop();
      await peer.close();
    }
  });
}
