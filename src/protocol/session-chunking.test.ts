/**
 * CHUNKING and BINARYMIME (RFC 3030): chunk bytes are counted, never parsed; a refused BDAT still
 * consumes exactly its octets; DATA and BDAT never mix; size limits and RSET between chunks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytes, everySplit, run, OPEN, type Run } from './session-harness.test-support.js';

/** Looks like a whole pipelined transaction; must never be answered when it is chunk content. */
const EVIL = 'RSET\r\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<x@mx.test>\r\nDATA\r\nforged\r\n.\r\nQUIT\r\n';

test('EHLO advertises CHUNKING and BINARYMIME by default', () => {
  const r = run([bytes('EHLO c\r\n')]);
  assert.ok(r.lines.includes('250-CHUNKING'));
  assert.ok(r.lines.includes('250-BINARYMIME'));
});

test('many chunks, including empty ones, are joined in order and each is acknowledged with its size', () => {
  const sizes = Array.from({ length: 120 }, (_, i) => (i * 37) % 23);
  const chunks = sizes.map((n, i) => Buffer.alloc(n, i));
  const input = Buffer.concat([bytes(OPEN), ...chunks.flatMap((c) => [bytes(`BDAT ${c.length}\r\n`), c]), bytes('BDAT 0 LAST\r\n')]);
  const r = run([input]);
  assert.equal(r.messages.length, 1);
  assert.ok(r.messages[0]?.body.equals(Buffer.concat(chunks)));
  assert.equal(r.messages[0]?.message.chunks, chunks.length + 1);
  assert.equal(r.messages[0]?.message.size, Buffer.concat(chunks).length);
  const acks = r.finals.filter((l) => / octets received$/.test(l));
  assert.deepEqual(
    acks,
    sizes.map((n) => `250 2.0.0 ${n} octets received`),
  );
});

test('BDAT 0 LAST alone makes an empty message', () => {
  const r = run([bytes(`${OPEN}BDAT 0 LAST\r\n`)]);
  assert.deepEqual(r.replies.slice(-1), ['250 2.0.0']);
  assert.equal(r.messages[0]?.body.length, 0);
  assert.equal(r.messages[0]?.message.size, 0);
  assert.equal(r.messages[0]?.message.chunks, 1);
});

test('LAST is case-insensitive and BDAT 0 (not LAST) is a valid empty chunk', () => {
  const r = run([bytes(`${OPEN}BDAT 0\r\nBDAT 2 last\r\nok`)]);
  assert.deepEqual(r.replies.slice(-2), ['250 2.0.0', '250 2.0.0']);
  assert.equal(r.messages[0]?.body.toString(), 'ok');
});

test('chunk content is stored verbatim: dot lines, commands, NUL, bare CR and LF, every octet value', () => {
  const content = Buffer.concat([
    bytes(`\r\n.\r\n${EVIL}\n.\n\r.\r.\r\n`),
    Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
    bytes('\r\n.\r\n'),
  ]);
  const input = Buffer.concat([
    bytes('EHLO c\r\nMAIL FROM:<a@c.test> BODY=BINARYMIME\r\nRCPT TO:<x@mx.test>\r\n'),
    bytes(`BDAT ${content.length} LAST\r\n`),
    content,
    bytes('NOOP\r\n'),
  ]);
  everySplit(input, (r, label) => {
    assert.deepEqual(r.replies, ['220', '250', '250 2.1.0', '250 2.1.5', '250 2.0.0', '250 2.0.0'], label);
    assert.ok(r.messages[0]?.body.equals(content), label);
  });
});

test('a chunk longer than 1000 octets without any line ending is accepted (BDAT content has no lines)', () => {
  const content = Buffer.alloc(5000, 0x41);
  const r = run([bytes(`${OPEN}BDAT 5000 LAST\r\n`), content]);
  assert.ok(r.messages[0]?.body.equals(content));
});

/** Sends `prefix`, a BDAT carrying EVIL, then NOOP; checks the refusal and that only NOOP follows. */
function refusedChunk(prefix: string, refusal: string, o: Parameters<typeof run>[1] = {}, last = false): Run {
  const input = bytes(`${prefix}BDAT ${EVIL.length}${last ? ' LAST' : ''}\r\n${EVIL}NOOP\r\n`);
  return everySplit(
    input,
    (r, label) => {
      assert.deepEqual(r.replies.slice(-2), [refusal, '250 2.0.0'], label);
      assert.equal(r.messages.length, 0, label);
      assert.ok(!r.kinds.includes('begin'), label);
      assert.ok(!r.closed, label);
    },
    o,
  );
}

test('a refused BDAT consumes exactly its octets: no MAIL (503 5.5.1), or before EHLO (500 5.5.1)', () => {
  const r = refusedChunk('EHLO c\r\n', '503 5.5.1');
  assert.equal(r.codes.length, 4);
  // Before EHLO no extension is in effect (RFC 5321 2.2.2), so BDAT is as unknown as any verb.
  refusedChunk('', '500 5.5.1', {}, true);
});

test('a refused BDAT consumes exactly its octets: MAIL but every RCPT refused (554 5.5.1)', () => {
  const r = refusedChunk('EHLO c\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<nobody@mx.test>\r\nRCPT TO:<y@else.test>\r\n', '554 5.5.1', {}, true);
  assert.deepEqual(r.replies.slice(3, 5), ['550 5.1.1', '554 5.7.1']);
  // The transaction is still open: a good RCPT and BDAT now succeed.
  const again = run([
    bytes(`EHLO c\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<y@else.test>\r\nBDAT 2\r\nabRCPT TO:<x@mx.test>\r\nBDAT 2 LAST\r\ncd`),
  ]);
  assert.deepEqual(again.replies.slice(-3), ['554 5.5.1', '250 2.1.5', '250 2.0.0']);
  assert.equal(again.messages[0]?.body.toString(), 'cd');
});

test('a refused BDAT consumes exactly its octets: CHUNKING disabled (500 5.5.1, not advertised)', () => {
  const r = refusedChunk(OPEN, '500 5.5.1', { switches: { chunking: false } });
  assert.ok(!r.lines.some((l) => /CHUNKING|BINARYMIME/.test(l)));
  // After HELO no extension is in effect, so BDAT is unknown too, but its octets are still read.
  refusedChunk('HELO c\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<x@mx.test>\r\n', '500 5.5.1');
});

test('a BDAT without a usable size is refused 501 and reads nothing (there is nothing to count)', () => {
  const r = run([bytes(`${OPEN}BDAT\r\nBDAT -1\r\nBDAT 1 FIRST\r\nBDAT 1234567890123456\r\nNOOP\r\n`)]);
  assert.deepEqual(r.replies.slice(-5), ['501 5.5.4', '501 5.5.4', '501 5.5.4', '501 5.5.4', '250 2.0.0']);
});

test('DATA after BDAT is refused 503 5.5.1 and the BDAT transaction can still finish', () => {
  const r = run([bytes(`${OPEN}BDAT 3\r\nabcDATA\r\nBDAT 3 LAST\r\ndef`)]);
  assert.deepEqual(r.replies.slice(-3), ['250 2.0.0', '503 5.5.1', '250 2.0.0']);
  assert.equal(r.messages[0]?.body.toString(), 'abcdef');
  assert.equal(r.messages[0]?.message.method, 'BDAT');
});

test('after DATA has started, a BDAT line is message content, not a command', () => {
  const r = run([bytes(`${OPEN}DATA\r\nBDAT 5 LAST\r\nhello\r\n.\r\nBDAT 0 LAST\r\n`)]);
  assert.deepEqual(r.replies.slice(-3), ['354', '250 2.0.0', '503 5.5.1']);
  assert.equal(r.messages[0]?.body.toString(), 'BDAT 5 LAST\r\nhello\r\n');
  assert.equal(r.messages[0]?.message.method, 'DATA');
});

test('BODY=BINARYMIME then DATA is refused 503 5.5.1; the transaction may continue with BDAT', () => {
  const r = run([bytes('EHLO c\r\nMAIL FROM:<a@c.test> BODY=BINARYMIME\r\nRCPT TO:<x@mx.test>\r\nDATA\r\nBDAT 1 LAST\r\n\0')]);
  assert.deepEqual(r.replies.slice(-2), ['503 5.5.1', '250 2.0.0']);
  assert.ok(r.messages[0]?.body.equals(Buffer.from([0])));
});

test('BODY=BINARYMIME is refused 555 5.5.4 when BINARYMIME (or CHUNKING) is off', () => {
  for (const switches of [{ binarymime: false }, { chunking: false }]) {
    const r = run([bytes('EHLO c\r\nMAIL FROM:<a@c.test> BODY=BINARYMIME\r\n')], { switches });
    assert.ok(!r.lines.includes('250-BINARYMIME'));
    assert.deepEqual(r.replies.slice(-1), ['555 5.5.4']);
  }
});

test('RSET, EHLO or QUIT between chunks discards the partial message; later chunks get 503', () => {
  const rset = run([bytes(`${OPEN}BDAT 3\r\nabcRSET\r\nBDAT 3 LAST\r\ndefNOOP\r\n`)]);
  assert.deepEqual(rset.replies.slice(-4), ['250 2.0.0', '250 2.0.0', '503 5.5.1', '250 2.0.0']);
  assert.deepEqual(rset.kinds.slice(4, 8), ['begin', 'body', 'send', 'discard']);
  assert.deepEqual(rset.discards, ['transaction reset']);
  assert.equal(rset.messages.length, 0);
  const ehlo = run([bytes(`${OPEN}BDAT 3\r\nabcEHLO again\r\n`)]);
  assert.equal(ehlo.discards.length, 1);
  const quit = run([bytes(`${OPEN}BDAT 3\r\nabcQUIT\r\n`)]);
  assert.deepEqual(quit.kinds.slice(-3), ['discard', 'send', 'close']);
});

test('NOOP and a nested MAIL between chunks do not end the transaction', () => {
  const r = run([bytes(`${OPEN}BDAT 1\r\naNOOP\r\nMAIL FROM:<b@c.test>\r\nBDAT 1 LAST\r\nb`)]);
  assert.deepEqual(r.replies.slice(-3), ['250 2.0.0', '503 5.5.1', '250 2.0.0']);
  assert.equal(r.messages[0]?.body.toString(), 'ab');
});

test('a chunk that overflows the size limit is read and discarded, answered 552 5.3.4; later chunks 503', () => {
  const input = bytes(`${OPEN}BDAT 60\r\n${'a'.repeat(60)}BDAT 60\r\n${EVIL.slice(0, 60)}BDAT 5 LAST\r\ncccccNOOP\r\n`);
  everySplit(
    input,
    (r, label) => {
      assert.deepEqual(r.replies.slice(4), ['250 2.0.0', '552 5.3.4', '503 5.5.1', '250 2.0.0'], label);
      assert.deepEqual(r.discards, ['message size limit exceeded'], label);
      assert.equal(r.messages.length, 0, label);
      // The discard comes before any byte of the overflowing chunk could be stored.
      assert.deepEqual(r.kinds.slice(4, 9), ['begin', 'body', 'send', 'discard', 'send'], label);
    },
    { maxMessageSize: 100 },
  );
});

test('a single LAST chunk over the limit is 552 5.3.4; exactly the limit is accepted', () => {
  const over = run([bytes(`${OPEN}BDAT 101 LAST\r\n${'x'.repeat(101)}NOOP\r\n`)], { maxMessageSize: 100 });
  assert.deepEqual(over.replies.slice(-2), ['552 5.3.4', '250 2.0.0']);
  assert.equal(over.messages.length, 0);
  const exact = run([bytes(`${OPEN}BDAT 50\r\n${'x'.repeat(50)}BDAT 50 LAST\r\n${'y'.repeat(50)}`)], { maxMessageSize: 100 });
  assert.equal(exact.messages[0]?.body.length, 100);
});
