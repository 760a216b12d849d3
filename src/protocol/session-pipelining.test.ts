/**
 * ServerSession as a byte transducer: a pipelined conversation (RFC 2920) gives the same replies and
 * the same stored bytes however the stream is cut, commits hold later input until answered, and
 * arbitrary input never throws or produces a malformed reply (RFC 5321 4.2).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bytes, cut, everySplit, options, run, OPEN } from './session-harness.test-support.js';
import { Reply } from './replies.js';
import { ServerSession } from './server-session.js';

const CHUNK1 = 'A\r\n.\r\nC\0\xff\r'; // 10 octets: a dot line, a NUL, a high octet, a bare CR
const CHUNK2 = '\nQUIT'; // 5 octets: completes a CRLF, then a "command" that is only content
const CONVERSATION = bytes(
  'EHLO client.test\r\n' +
    'MAIL FROM:<a@client.test> BODY=BINARYMIME SIZE=15\r\n' +
    'RCPT TO:<x@mx.test>\r\n' +
    'RCPT TO:<y@relay.test> NOTIFY=FAILURE\r\n' +
    `BDAT 10\r\n${CHUNK1}` +
    `BDAT 5 LAST\r\n${CHUNK2}` +
    'MAIL FROM:<b@client.test>\r\n' +
    'RCPT TO:<x@mx.test>\r\n' +
    'DATA\r\n' +
    'Subject: dots\r\n\r\n..leading dot\r\n...two\r\n.\r\n' +
    'QUIT\r\n',
);
const REPLIES = [
  '220',
  '250',
  '250 2.1.0',
  '250 2.1.5',
  '250 2.1.5',
  '250 2.0.0',
  '250 2.0.0',
  '250 2.1.0',
  '250 2.1.5',
  '354',
  '250 2.0.0',
  '221 2.0.0',
];

test('a pipelined BDAT + DATA conversation gives identical replies and bytes at every cut and byte by byte', () => {
  const whole = everySplit(CONVERSATION, (r, label) => {
    assert.deepEqual(r.replies, REPLIES, label);
    assert.equal(r.messages.length, 2, label);
    assert.equal(r.messages[0]?.body.toString('latin1'), CHUNK1 + CHUNK2, label);
    assert.equal(r.messages[1]?.body.toString('latin1'), 'Subject: dots\r\n\r\n.leading dot\r\n..two\r\n', label);
    assert.ok(r.closed, label);
  });
  assert.match(whole.text, /^250 2\.0\.0 10 octets received\r$/m);
  assert.match(whole.text, /^250 2\.0\.0 OK queued as X1\r$/m);
  assert.match(whole.text, /^250 2\.0\.0 OK queued as X2\r$/m);
  const [bdat, data] = whole.messages;
  assert.equal(bdat?.message.method, 'BDAT');
  assert.equal(bdat?.message.chunks, 2);
  assert.equal(bdat?.message.size, 15);
  assert.equal(bdat?.message.transaction.body, 'BINARYMIME');
  assert.equal(bdat?.message.transaction.declaredSize, 15);
  assert.deepEqual(
    bdat?.message.transaction.rcpts.map((r) => [r.address, r.local]),
    [
      ['x@mx.test', true],
      ['y@relay.test', false],
    ],
  );
  assert.deepEqual(bdat?.message.transaction.rcpts[1]?.notify, ['FAILURE']);
  assert.equal(data?.message.method, 'DATA');
  assert.equal(data?.message.chunks, 0);
  assert.equal(data?.message.size, data?.body.length);
});

test('the action sequence is the same at every cut (begin, body, commit, then the reply)', () => {
  everySplit(CONVERSATION, (r, label) => {
    const structural = r.kinds.filter((k) => k !== 'body');
    assert.deepEqual(
      structural,
      [
        'send',
        'send',
        'send',
        'send',
        'send',
        'begin',
        'send',
        'commit',
        'send',
        'send',
        'send',
        'begin',
        'send',
        'commit',
        'send',
        'send',
        'close',
      ],
      label,
    );
  });
});

test('input after a commit waits for committed(); replies stay in order', () => {
  const r = run([bytes(`${OPEN}BDAT 3 LAST\r\nabcNOOP\r\nRSET\r\n`)]);
  assert.deepEqual(r.replies, ['220', '250', '250 2.1.0', '250 2.1.5', '250 2.0.0', '250 2.0.0', '250 2.0.0']);
  assert.match(r.finals[4] ?? '', /queued as X1/);
  assert.match(r.finals[5] ?? '', /^250 2\.0\.0 OK$/);
  assert.match(r.finals[6] ?? '', /Reset/);
});

test('while a commit is outstanding nothing is answered; bytes received meanwhile are processed after it', () => {
  const s = new ServerSession(options());
  s.greet();
  const first = s.receive(bytes(`${OPEN}DATA\r\nhi\r\n.\r\nNOOP\r\n`));
  const commit = first.find((a) => a.kind === 'commit');
  assert.ok(commit, 'commit requested');
  assert.equal(first.at(-1)?.kind, 'commit', 'nothing after the commit yet');
  assert.deepEqual(s.receive(bytes('MAIL FROM:<b@c.test>\r\n')), [], 'held while committing');
  const after = s.committed({ refuse: Reply.storageFailed() });
  const texts = after.flatMap((a) => (a.kind === 'send' ? [a.text] : []));
  assert.deepEqual(texts, [
    '452 4.3.1 Insufficient system storage, message not accepted\r\n',
    '250 2.0.0 OK\r\n',
    '250 2.1.0 Sender OK\r\n',
  ]);
  assert.equal(s.inBody, false);
  assert.deepEqual(s.committed({ id: 'late' }), [], 'a second answer is ignored');
});

test('a refused commit (452 4.3.1) leaves the session usable', () => {
  const r = run([bytes(`${OPEN}BDAT 1 LAST\r\naMAIL FROM:<a@c.test>\r\nRCPT TO:<x@mx.test>\r\nBDAT 1 LAST\r\nb`)], {}, [1]);
  assert.deepEqual(r.replies, ['220', '250', '250 2.1.0', '250 2.1.5', '452 4.3.1', '250 2.1.0', '250 2.1.5', '250 2.0.0']);
  assert.equal(r.messages.length, 1);
  assert.equal(r.messages[0]?.body.toString(), 'b');
});

test('abort() discards an open message, says why and closes; later input is ignored', () => {
  const r = run([bytes(`${OPEN}BDAT 10\r\n12345`)]);
  assert.equal(r.session.inBody, true);
  const actions = r.session.abort(Reply.timeout());
  assert.deepEqual(
    actions.map((a) => a.kind),
    ['discard', 'send', 'close'],
  );
  assert.equal(actions[1]?.kind === 'send' ? actions[1].text : '', '421 4.4.2 Idle timeout, closing transmission channel\r\n');
  assert.equal(r.session.closed, true);
  assert.deepEqual(r.session.receive(bytes('67890NOOP\r\n')), []);
  assert.deepEqual(r.session.abort(Reply.timeout()), []);
});

test('QUIT closes at once: pipelined commands after it are not answered', () => {
  const r = run([bytes('EHLO c\r\nQUIT\r\nNOOP\r\n'), bytes('NOOP\r\n')]);
  assert.deepEqual(r.codes, [220, 250, 221]);
  assert.equal(r.kinds.at(-1), 'close');
});

// Plausible pieces of a conversation, including broken ones, for the stream properties below.
const FRAGMENTS = [
  'EHLO c\r\n',
  'HELO c\r\n',
  'MAIL FROM:<a@c.test>\r\n',
  'MAIL FROM:<a@c.test> BODY=BINARYMIME\r\n',
  'MAIL FROM:<> SIZE=99999999\r\n',
  'RCPT TO:<x@mx.test>\r\n',
  'RCPT TO:<z@else.test>\r\n',
  'RCPT TO:<x@mx.test> NOTIFY=NEVER,DELAY\r\n',
  'DATA\r\n',
  '.\r\n',
  '..\r\n',
  'BDAT 5\r\n',
  'BDAT 3 LAST\r\n',
  'BDAT 0 LAST\r\n',
  'BDAT\r\n',
  'BDAT x\r\n',
  'RSET\r\n',
  'NOOP\r\n',
  'VRFY x\r\n',
  'ETRN x.test\r\n',
  'HELP\r\n',
  'QUIT\r\n',
  '\r\n',
  '\n',
  '\r',
  '.',
  '\0',
  'x'.repeat(600),
  '\r\n.\r\n',
  '\n.\n',
  'MAIL FROM:<j\u00f6rg@c.test>\r\n',
];
const stream = fc
  .array(
    fc.oneof(
      fc.constantFrom(...FRAGMENTS).map(bytes),
      fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u)),
    ),
    { maxLength: 40 },
  )
  .map((parts) => Buffer.concat(parts));

function wellFormed(text: string): void {
  assert.ok(text === '' || text.endsWith('\r\n'), 'replies end with CRLF');
  for (const line of text.split('\r\n').slice(0, -1)) assert.match(line, /^[2-5]\d{2}[ -]/);
}

test('property: any stream cut anywhere never throws and gives the same well-formed replies, bodies and actions', () => {
  fc.assert(
    fc.property(stream, fc.array(fc.nat({ max: 2000 }), { maxLength: 12 }), fc.boolean(), (input, offsets, normalise) => {
      const o = { maxMessageSize: 64, maxErrors: 8, normaliseBareLineEndings: normalise };
      const whole = run([input], o);
      const split = run(cut(input, offsets), o);
      wellFormed(whole.text);
      assert.equal(split.text, whole.text);
      assert.deepEqual(
        split.messages.map((m) => m.body),
        whole.messages.map((m) => m.body),
      );
      assert.deepEqual(split.discards, whole.discards);
      assert.equal(split.closed, whole.closed);
    }),
    { numRuns: 400 },
  );
});

test('property: raw random bytes, one byte at a time, match the whole stream', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (u) => {
      const input = Buffer.from(u);
      const whole = run([input]);
      wellFormed(whole.text);
      assert.equal(run([...input].map((x) => Buffer.from([x]))).text, whole.text);
    }),
    { numRuns: 300 },
  );
});

test('property: every message committed from a BDAT stream is exactly the concatenated chunks', () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 50 }), { minLength: 1, maxLength: 8 }),
      fc.array(fc.nat({ max: 600 })),
      (chunks, offsets) => {
        const parts = chunks.map((c, i) =>
          Buffer.concat([bytes(`BDAT ${c.length}${i === chunks.length - 1 ? ' LAST' : ''}\r\n`), Buffer.from(c)]),
        );
        const input = Buffer.concat([bytes(OPEN), ...parts, bytes('NOOP\r\n')]);
        const r = run(cut(input, offsets));
        assert.equal(r.messages.length, 1);
        assert.ok(r.messages[0]?.body.equals(Buffer.concat(chunks.map((c) => Buffer.from(c)))));
        assert.equal(r.messages[0]?.message.chunks, chunks.length);
        assert.equal(r.codes.at(-1), 250);
      },
    ),
    { numRuns: 200 },
  );
});
