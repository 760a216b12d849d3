/**
 * Content received by BDAT may hold bare CR and bare LF (RFC 3030 leaves it alone); relayed by DATA
 * it would be an SMTP smuggling vector, so Barge sends it with CRLF line ends only. The receiving
 * peer is Barge with CHUNKING turned off, which refuses bare line ends in DATA (the default).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawSmtp } from '../support/raw-client.js';
import { eventually, startBarge, stripBargeHeaders } from '../support/barge.js';

test('BDAT content with bare CR and LF is relayed by DATA as CRLF-only lines, otherwise byte-exact', async () => {
  const receiver = await startBarge('[listener.smtp]\nchunking = false', { localDomain: ['remote.test'], hostname: 'receiver.test' });
  const sender = await startBarge(`[routes]\n"remote.test" = "127.0.0.1:${receiver.port}"`);
  try {
    const content = Buffer.from(
      'Subject: bare\r\nX-Note: mixed\n\r\nline one\nline two\r.\nMAIL FROM:<evil@x.test>\r\n.\rend\r\n',
      'latin1',
    );
    const c = await RawSmtp.connect(sender.port);
    await c.reply();
    await c.command('EHLO client.test');
    await c.send(
      Buffer.concat([Buffer.from(`MAIL FROM:<alice@localhost>\r\nRCPT TO:<bob@remote.test>\r\nBDAT ${content.length} LAST\r\n`), content]),
    );
    assert.deepEqual(
      (await c.replies(3)).map((r) => r.code),
      [250, 250, 250],
    );
    c.close();

    const box = await eventually(
      async () => {
        const b = await receiver.mailbox('bob@remote.test');
        return b.length > 0 ? b : undefined;
      },
      15_000,
      'the relayed message',
    );
    const delivered = (await sender.tracking()).find((e) => e.event === 'delivered');
    assert.ok(delivered?.event === 'delivered' && delivered.method === 'DATA', JSON.stringify(delivered));
    const got = box[0] ?? Buffer.alloc(0);
    // The receiver's Return-Path, Delivered-To and Received, then the sender's own Received.
    const afterReceiver = stripBargeHeaders(got);
    const senderTrace = /^Received: [\s\S]*?\r\n(?![ \t])/.exec(afterReceiver.toString('latin1'))?.[0] ?? '';
    assert.match(senderTrace, /by barge\.test \(Barge\)/);
    const body = afterReceiver.subarray(senderTrace.length);
    assert.doesNotMatch(got.toString('latin1'), /\r(?!\n)|(?<!\r)\n/, 'CRLF-only lines');
    assert.equal(body.toString('latin1'), content.toString('latin1').replace(/\r\n|\r|\n/g, '\r\n'));
  } finally {
    await sender.stop();
    await receiver.stop();
  }
});
