/**
 * Mail loops (RFC 5321 6.3): a message with more Received: fields than max_hops (Barge's own
 * counted) is read to its end, then refused with 554 5.4.6; the session stays in step.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytes, everySplit, run, OPEN } from './session-harness.test-support.js';

const message = (hops: number): string =>
  `${Array.from({ length: hops }, (_, i) => `Received: from h${i}.test by h${i + 1}.test;\r\n\tTue, 1 Dec 2026 09:00:00 +0000\r\n`).join('')}` +
  'Subject: loop\r\n\r\nReceived: body text does not count\r\n';

test('DATA: a message that would carry max_hops + 1 hops is refused 554 5.4.6 after its end; one fewer is taken', () => {
  const input = bytes(`${OPEN}DATA\r\n${message(5)}.\r\nNOOP\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<x@mx.test>\r\nDATA\r\n${message(4)}.\r\n`);
  everySplit(
    input,
    (r, label) => {
      assert.deepEqual(r.replies.slice(4), ['354', '554 5.4.6', '250 2.0.0', '250 2.1.0', '250 2.1.5', '354', '250 2.0.0'], label);
      assert.equal(r.messages.length, 1, label);
      assert.match(r.messages[0]?.body.toString('latin1') ?? '', /^Received: from h0\.test/, label);
      assert.match(r.discards.join(), /too many hops: 6 Received: fields \(at most 5\)/, label);
    },
    { maxHops: 5 },
  );
});

test('BDAT: the hops may span chunks; the refusal comes with LAST, every chunk is consumed', () => {
  const content = bytes(message(8));
  const half = 200;
  const input = Buffer.concat([
    bytes(`${OPEN}BDAT ${half}\r\n`),
    content.subarray(0, half),
    bytes(`BDAT ${content.length - half} LAST\r\n`),
    content.subarray(half),
    bytes('NOOP\r\n'),
  ]);
  everySplit(
    input,
    (r, label) => {
      assert.deepEqual(r.replies.slice(4), ['250 2.0.0', '554 5.4.6', '250 2.0.0'], label);
      assert.match(r.finals[5] ?? '', /Too many hops: 9 Received: fields \(at most 5\)/, label);
      assert.equal(r.messages.length, 0, label);
    },
    { maxHops: 5 },
  );
});

test('max_hops is configurable', () => {
  const r = run([bytes(`${OPEN}BDAT ${message(3).length} LAST\r\n${message(3)}`)], { maxHops: 3 });
  assert.deepEqual(r.replies.slice(-1), ['554 5.4.6']);
  const ok = run([bytes(`${OPEN}BDAT ${message(2).length} LAST\r\n${message(2)}`)], { maxHops: 3 });
  assert.deepEqual(ok.replies.slice(-1), ['250 2.0.0']);
});
