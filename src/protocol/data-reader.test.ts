/** SMTP smuggling (bare LF / bare CR end-of-data tricks) and DATA text limits, through the session. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { b, drive, sessionOptions, splits } from './session-driver.test-support.js';

const OPEN = 'EHLO c\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<x@mx.test>\r\nDATA\r\n';
const SMUGGLED = 'MAIL FROM:<evil@c.test>\r\nRCPT TO:<x@mx.test>\r\nDATA\r\nforged\r\n';

for (const fake of ['\n.\n', '\r.\r', '\n.\r\n', '\r\n.\n', '\r\n.\r', '\r.\r\n', '\r\n.\r\r\n', '\n.\r']) {
  test(`${JSON.stringify(fake)} does not end DATA; the message is refused 550 5.6.0 after the real end`, () => {
    const input = b(`${OPEN}Subject: x\r\n\r\nhello${fake}${SMUGGLED}\r\n.\r\nNOOP\r\n`);
    const t = drive([input]);
    assert.deepEqual(t.codes, [220, 250, 250, 250, 354, 550, 250], t.replies);
    assert.match(t.replies, /550 5\.6\.0 /);
    assert.equal(t.messages.length, 0, 'nothing committed, nothing smuggled');
    for (const pieces of splits(input).filter((_, i) => i % 7 === 0)) assert.equal(drive(pieces).replies, t.replies);
  });
}

test('with normalisation on, bare line endings become CRLF and still never end the message', () => {
  const t = drive([b(`${OPEN}a\nb\rc\r\n.\r\n`)], sessionOptions({ normaliseBareLineEndings: true }));
  assert.deepEqual(t.codes, [220, 250, 250, 250, 354, 250]);
  assert.equal(t.messages[0]?.body.toString('latin1'), 'a\r\nb\r\nc\r\n');
  const smuggle = drive([b(`${OPEN}x\n.\nNOOP\r\n.\r\n`)], sessionOptions({ normaliseBareLineEndings: true }));
  assert.equal(smuggle.messages.length, 1);
  assert.match(smuggle.messages[0]?.body.toString('latin1') ?? '', /NOOP/);
});

test('a text line over 1000 octets in DATA is refused 550 5.6.0 after the end (RFC 5321 4.5.3.1.6)', () => {
  const t = drive([b(`${OPEN}${'y'.repeat(1001)}\r\n.\r\nNOOP\r\n`)]);
  assert.deepEqual(t.codes, [220, 250, 250, 250, 354, 550, 250]);
  const ok = drive([b(`${OPEN}${'y'.repeat(998)}\r\n.\r\n`)]);
  assert.deepEqual(ok.codes, [220, 250, 250, 250, 354, 250]);
});

test('an empty message and a lone dot line are handled', () => {
  assert.equal(drive([b(`${OPEN}.\r\n`)]).messages[0]?.body.length, 0);
});
