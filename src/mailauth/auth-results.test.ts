/** Our own Authentication-Results fields are cut from incoming headers, folded lines and all; others stay byte-exact. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { authservId, withoutOwnResults } from './auth-results.js';

test('authserv-id: first token, comments and version ignored, case-insensitive', () => {
  assert.equal(authservId('Authentication-Results: Barge.Test 1; spf=pass'), 'barge.test');
  assert.equal(authservId('Authentication-Results: (forged) barge.test;\r\n\tdmarc=pass'), 'barge.test');
  assert.equal(authservId('Authentication-Results: mx.other.example; none'), 'mx.other.example');
});

test('fields claiming our authserv-id are removed whatever the chunking; the rest is kept exactly', async () => {
  const head =
    'Received: from x\r\n\tby y; Tue, 1 Dec 2026 10:00:00 +0000\r\n' +
    'authentication-results:  BARGE.TEST;\r\n\tdkim=pass\r\n header.d=evil.example\r\n' +
    'Authentication-Results: barge.test.evil.example; spf=pass\r\n' +
    'Subject: x\r\nAuthentication-Results: barge.test; dmarc=pass\r\n\r\n';
  const body = 'Authentication-Results: barge.test; in the body stays\r\n';
  const expected = `Received: from x\r\n\tby y; Tue, 1 Dec 2026 10:00:00 +0000\r\nAuthentication-Results: barge.test.evil.example; spf=pass\r\nSubject: x\r\n\r\n${body}`;
  const bytes = Buffer.from(head + body);
  for (const size of [1, 3, 17, bytes.length]) {
    const pieces: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += size) pieces.push(bytes.subarray(i, i + size));
    const out: Buffer[] = [];
    for await (const b of withoutOwnResults(Readable.from(pieces), 'barge.test')) out.push(b);
    assert.equal(Buffer.concat(out).toString(), expected, `pieces of ${size}`);
  }
});
