import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageIdScanner } from './message-id.js';

const scan = (parts: readonly string[]): string | undefined => {
  const s = new MessageIdScanner();
  for (const p of parts) s.push(Buffer.from(p, 'latin1'));
  return s.messageId();
};

test('the Message-ID is found whatever offset the bytes are split at', () => {
  const message = 'Received: from x\r\nSubject: hi\r\nMessage-ID:\r\n <abc.123@example.test>\r\n\r\nbody\r\n';
  for (let i = 0; i <= message.length; i++)
    assert.equal(scan([message.slice(0, i), message.slice(i)]), '<abc.123@example.test>', `split at ${i}`);
  assert.equal(scan([...message]), '<abc.123@example.test>');
});

test('a Message-ID line in the body, or past the header limit, is not taken', () => {
  assert.equal(scan(['Subject: x\r\n\r\nMessage-ID: <in-body@example.test>\r\n']), undefined);
  assert.equal(scan(['X-Message-ID: <other@example.test>\r\n\r\n']), undefined);
  assert.equal(scan([`X-Pad: ${'a'.repeat(70_000)}\r\nMessage-ID: <late@example.test>\r\n\r\n`]), undefined);
});
