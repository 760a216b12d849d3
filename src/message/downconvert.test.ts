/** Downconversion: which parts are re-encoded, and that every byte survives. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { downconvert } from './downconvert.js';

async function convert(message: Buffer, body: 'BINARYMIME' | '8BITMIME' | '7BIT', cut = 7): Promise<string> {
  const pieces: Buffer[] = [];
  for (let i = 0; i < message.length; i += cut) pieces.push(message.subarray(i, i + cut));
  const out: Buffer[] = [];
  for await (const chunk of downconvert(Readable.from(pieces), body, 'converted for test')) out.push(chunk as Buffer);
  return Buffer.concat(out).toString('latin1');
}

test('an unmarked single-part 8-bit message becomes MIME base64, split anywhere', async () => {
  const text = 'Gr\u00fc\u00dfe aus K\u00f6ln\r\n'.repeat(20);
  const out = await convert(Buffer.from(`Subject: hi\r\n\r\n${text}`, 'utf8'), '8BITMIME');
  assert.match(out, /^MIME-Version: 1\.0\r$/m);
  assert.match(out, /^X-Barge-Converted: converted for test\r$/m);
  assert.match(out, /^Content-Transfer-Encoding: base64\r$/m);
  const b64 = out.slice(out.indexOf('\r\n\r\n') + 4);
  assert.ok(b64.endsWith('\r\n'));
  assert.equal(Buffer.from(b64.replaceAll('\r\n', ''), 'base64').toString('utf8'), text);
  for (const line of b64.split('\r\n')) assert.ok(line.length <= 76);
});

test('a 7-bit message only gains the note; quoted-printable and base64 parts are left alone', async () => {
  const message =
    'Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9\r\n--B--\r\n';
  const out = await convert(Buffer.from(message), 'BINARYMIME', 3);
  assert.equal(out, `X-Barge-Converted: converted for test\r\n${message}`);
});
