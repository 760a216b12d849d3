/** The client's reply reader: multi-line replies, enhanced codes, any split, bounded input. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ReplyParser, ReplyParseError, replyText } from './reply-parser.js';

const EHLO = '250-mx.test Hello\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 CHUNKING\r\n550 5.1.1 <x@y> no such user\r\n354 go ahead\r\n';

test('multi-line replies and enhanced codes are parsed, whatever the split', () => {
  const whole = new ReplyParser().feed(Buffer.from(EHLO));
  assert.deepEqual(whole, [
    { code: 250, lines: ['mx.test Hello', 'PIPELINING', 'SIZE 1000', 'CHUNKING'] },
    { code: 550, enhanced: '5.1.1', lines: ['<x@y> no such user'] },
    { code: 354, lines: ['go ahead'] },
  ]);
  assert.equal(replyText(whole[1] ?? { code: 0, lines: [] }), '550 5.1.1 <x@y> no such user');
  const bytes = Buffer.from(EHLO);
  for (let i = 1; i < bytes.length; i++) {
    const p = new ReplyParser();
    assert.deepEqual([...p.feed(bytes.subarray(0, i)), ...p.feed(bytes.subarray(i))], whole);
  }
});

test('an enhanced code of another class is not taken as one (RFC 3463)', () => {
  assert.deepEqual(new ReplyParser().feed(Buffer.from('250 5.0.0 odd\r\n')), [{ code: 250, lines: ['5.0.0 odd'] }]);
});

test('bare LF line ends are accepted; garbage and endless lines are refused', () => {
  assert.deepEqual(new ReplyParser().feed(Buffer.from('220 hi\n')), [{ code: 220, lines: ['hi'] }]);
  assert.throws(() => new ReplyParser().feed(Buffer.from('HTTP/1.1 400\r\n')), ReplyParseError);
  assert.throws(() => new ReplyParser().feed(Buffer.alloc(10_000, 0x41)), ReplyParseError);
  assert.throws(() => new ReplyParser().feed(Buffer.from('250-x\r\n'.repeat(500))), ReplyParseError);
});

test('property: arbitrary bytes either parse or raise ReplyParseError, never anything else', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (u) => {
      try {
        for (const r of new ReplyParser().feed(Buffer.from(u))) assert.ok(r.code >= 200 && r.code <= 599);
      } catch (e) {
        assert.ok(e instanceof ReplyParseError, String(e));
      }
    }),
  );
});
