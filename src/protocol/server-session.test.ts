/** The sans-I/O session: split-byte invariance, CHUNKING (RFC 3030), SIZE, sequencing, limits. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { b, drive, sessionOptions, splits } from './session-driver.test-support.js';

const CONVERSATION = b(
  'EHLO client.test\r\nMAIL FROM:<a@client.test> BODY=BINARYMIME\r\nRCPT TO:<x@mx.test>\r\nRCPT TO:<y@relay.test>\r\n' +
    'BDAT 10\r\n0123\r\n.\r\n9BDAT 6 LAST\r\nQUIT\r\n' +
    'MAIL FROM:<b@client.test>\r\nRCPT TO:<x@mx.test>\r\nDATA\r\nSubject: s\r\n\r\n..dot\r\n.\r\nQUIT\r\n',
);

test('the same pipelined conversation split at every offset gives identical replies and bodies', () => {
  const whole = drive([CONVERSATION]);
  assert.deepEqual(whole.codes, [220, 250, 250, 250, 250, 250, 250, 250, 250, 354, 250, 221]);
  assert.equal(whole.messages.length, 2);
  assert.equal(whole.messages[1]?.body.toString('latin1'), 'Subject: s\r\n\r\n.dot\r\n');
  assert.equal(whole.messages[0]?.body.toString('latin1'), '0123\r\n.\r\n9QUIT\r\n');
  assert.equal(whole.messages[0]?.message.chunks, 2);
  assert.ok(whole.closed);
  for (const pieces of splits(CONVERSATION)) {
    const t = drive(pieces);
    assert.equal(t.replies, whole.replies);
    assert.deepEqual(t.messages.map((m) => m.body), whole.messages.map((m) => m.body));
  }
});

test('DATA un-stuffs dots and is invariant under splitting', () => {
  const input = b('EHLO c\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<x@mx.test>\r\nDATA\r\n.hidden\r\n..two\r\nend\r\n.\r\nNOOP\r\n');
  const whole = drive([input]);
  assert.deepEqual(whole.codes, [220, 250, 250, 250, 354, 250, 250]);
  assert.equal(whole.messages[0]?.body.toString('latin1'), 'hidden\r\n.two\r\nend\r\n');
  for (const pieces of splits(input)) assert.equal(drive(pieces).replies, whole.replies);
});

test('BDAT 0 LAST ends a chunked message; many chunks are joined in order', () => {
  const chunks = Array.from({ length: 50 }, (_, i) => `chunk ${i};`);
  const input = `EHLO c\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<x@mx.test>\r\n${chunks.map((c) => `BDAT ${c.length}\r\n${c}`).join('')}BDAT 0 LAST\r\n`;
  const t = drive([b(input)]);
  assert.equal(t.messages[0]?.body.toString(), chunks.join(''));
  assert.equal(t.messages[0]?.message.chunks, 51);
  assert.equal(t.codes.at(-1), 250);
});

test('chunk bytes are never parsed: NUL, bare CR/LF, dot lines and commands are stored verbatim', () => {
  const content = Buffer.concat([b('\r\n.\r\nQUIT\r\nRSET\r\n\n.\n\r.\r'), Buffer.from([0, 255, 13, 0, 10])]);
  const t = drive([b(`EHLO c\r\nMAIL FROM:<a@c.test> BODY=BINARYMIME\r\nRCPT TO:<x@mx.test>\r\nBDAT ${content.length} LAST\r\n`), content, b('NOOP\r\n')]);
  assert.ok(t.messages[0]?.body.equals(content));
  assert.deepEqual(t.codes, [220, 250, 250, 250, 250, 250]);
});

test('a refused BDAT consumes exactly its bytes (no MAIL, no valid RCPT, CHUNKING off)', () => {
  const chunk = 'MAIL FROM:<evil@x.test>\r\n';
  const noMail = drive([b(`EHLO c\r\nBDAT ${chunk.length}\r\n${chunk}NOOP\r\n`)]);
  assert.deepEqual(noMail.codes, [220, 250, 503, 250]);
  assert.match(noMail.replies, /503 5\.5\.1 /);

  const noRcpt = drive([b(`EHLO c\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<y@elsewhere.test>\r\nBDAT ${chunk.length} LAST\r\n${chunk}NOOP\r\n`)]);
  assert.deepEqual(noRcpt.codes, [220, 250, 250, 554, 554, 250]);
  assert.equal(noRcpt.messages.length, 0);

  const off = drive([b(`EHLO c\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<x@mx.test>\r\nBDAT ${chunk.length} LAST\r\n${chunk}NOOP\r\n`)], sessionOptions({ switches: { chunking: false } }));
  assert.doesNotMatch(off.replies, /CHUNKING|BINARYMIME/);
  assert.deepEqual(off.codes, [220, 250, 250, 250, 500, 250]);
  assert.match(off.replies, /500 5\.5\.1 /);
  assert.equal(off.messages.length, 0);
});

test('DATA and BDAT are never mixed; BODY=BINARYMIME requires BDAT', () => {
  const mixed = drive([b('EHLO c\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<x@mx.test>\r\nBDAT 3\r\nabcDATA\r\nBDAT 0 LAST\r\n')]);
  assert.deepEqual(mixed.codes, [220, 250, 250, 250, 250, 503, 250]);
  const binary = drive([b('EHLO c\r\nMAIL FROM:<a@c.test> BODY=BINARYMIME\r\nRCPT TO:<x@mx.test>\r\nDATA\r\n')]);
  assert.deepEqual(binary.codes, [220, 250, 250, 250, 503]);
  const disabled = drive([b('EHLO c\r\nMAIL FROM:<a@c.test> BODY=BINARYMIME\r\n')], sessionOptions({ switches: { binarymime: false } }));
  assert.deepEqual(disabled.codes, [220, 250, 555]);
  assert.match(disabled.replies, /555 5\.5\.4 /);
});

test('RSET between chunks discards the partial message', () => {
  const t = drive([b('EHLO c\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<x@mx.test>\r\nBDAT 3\r\nabcRSET\r\nBDAT 0 LAST\r\n')]);
  assert.deepEqual(t.codes, [220, 250, 250, 250, 250, 250, 503]);
  assert.equal(t.discards, 1);
  assert.equal(t.messages.length, 0);
});

test('SIZE: declared too big at MAIL, actual too big after the body (DATA and BDAT)', () => {
  const o = sessionOptions({ maxMessageSize: 100 });
  assert.match(drive([b('EHLO c\r\n')], o).replies, /250-SIZE 100\r\n/);
  assert.deepEqual(drive([b('EHLO c\r\nMAIL FROM:<a@c.test> SIZE=101\r\n')], o).codes, [220, 250, 552]);
  const big = 'x'.repeat(150);
  const bdat = drive([b(`EHLO c\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<x@mx.test>\r\nBDAT 150\r\n${big}BDAT 0 LAST\r\nNOOP\r\n`)], o);
  assert.deepEqual(bdat.codes, [220, 250, 250, 250, 552, 503, 250]);
  assert.match(bdat.replies, /552 5\.3\.4 /);
  assert.equal(bdat.messages.length, 0);
  const data = drive([b(`EHLO c\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<x@mx.test>\r\nDATA\r\n${big}\r\n.\r\nNOOP\r\n`)], o);
  assert.deepEqual(data.codes, [220, 250, 250, 250, 354, 552, 250]);
  assert.equal(data.messages.length, 0);
});

test('SMTPUTF8 addresses need the SMTPUTF8 parameter; DSN parameters are kept', () => {
  assert.deepEqual(drive([b('EHLO c\r\nMAIL FROM:<j\u00f6rg@c.test>\r\n')]).codes, [220, 250, 553]);
  const utf8 = drive([Buffer.from('EHLO c\r\nMAIL FROM:<jörg@c.test> SMTPUTF8\r\nRCPT TO:<x@mx.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x+40mx.test\r\nBDAT 0 LAST\r\n', 'utf8')]);
  assert.deepEqual(utf8.codes, [220, 250, 250, 250, 250]);
  const tx = utf8.messages[0]?.message.transaction;
  assert.equal(tx?.smtputf8, true);
  assert.deepEqual(tx?.rcpts[0]?.notify, ['SUCCESS', 'FAILURE']);
  const dsn = drive([b('EHLO c\r\nMAIL FROM:<a@c.test> RET=HDRS ENVID=QQ+2B1\r\nRCPT TO:<x@mx.test> NOTIFY=NEVER,SUCCESS\r\n')]);
  assert.equal(dsn.codes.at(-1) !== 250, true);
});

test('sequence and limits: 503 before EHLO, 500 unknown, long lines, too many recipients, too many errors', () => {
  assert.deepEqual(drive([b('MAIL FROM:<a@c.test>\r\nFOO\r\nHELP\r\nVRFY x\r\nEXPN x\r\n')]).codes, [220, 503, 500, 214, 252, 502]);
  const long = drive([b(`EHLO c\r\nNOOP ${'x'.repeat(2000)}\r\nNOOP\r\n`)]);
  assert.deepEqual(long.codes, [220, 250, 500, 250]);
  assert.match(long.replies, /500 5\.5\.2 /);
  const rcpts = drive([b(`EHLO c\r\nMAIL FROM:<a@c.test>\r\n${'RCPT TO:<x@mx.test>\r\n'.repeat(3)}`)], sessionOptions({ maxRecipients: 2 }));
  assert.deepEqual(rcpts.codes, [220, 250, 250, 250, 250, 452]);
  assert.match(rcpts.replies, /452 4\.5\.3 /);
  const errors = drive([b('EHLO c\r\nX\r\nX\r\nX\r\nNOOP\r\n')], sessionOptions({ maxErrors: 3 }));
  assert.deepEqual(errors.codes, [220, 250, 500, 500, 500, 421]);
  assert.ok(errors.closed);
});

test('ETRN needs the extension and a greeting', () => {
  assert.deepEqual(drive([b('EHLO c\r\nETRN example.test\r\n')]).codes, [220, 250, 250]);
  assert.deepEqual(drive([b('EHLO c\r\nETRN example.test\r\n')], sessionOptions({ switches: { etrn: false } })).codes, [220, 250, 502]);
});

test('property: any byte stream, split anywhere, gets well-formed replies and never throws', () => {
  const fragment = fc.oneof(
    fc.constantFrom('EHLO c\r\n', 'HELO c\r\n', 'MAIL FROM:<a@c.test>\r\n', 'RCPT TO:<x@mx.test>\r\n', 'DATA\r\n', '.\r\n', 'BDAT 5\r\n', 'BDAT 3 LAST\r\n', 'RSET\r\n', 'QUIT\r\n', '\r\n', '\n', '\r', 'BDAT\r\n', 'BDAT 99999999999999999999\r\n'),
    fc.string({ maxLength: 20 }),
  );
  fc.assert(
    fc.property(fc.array(fc.oneof(fragment, fc.uint8Array({ maxLength: 30 }).map((u) => Buffer.from(u).toString('latin1'))), { maxLength: 30 }), fc.integer({ min: 1, max: 40 }), (parts, cut) => {
      const input = b(parts.join(''));
      const whole = drive([input]);
      const pieces: Buffer[] = [];
      for (let i = 0; i < input.length; i += cut) pieces.push(input.subarray(i, i + cut));
      const split = drive(pieces);
      assert.equal(split.replies, whole.replies);
      for (const line of whole.replies.split('\r\n').slice(0, -1)) assert.match(line, /^\d{3}[ -]/);
    }),
    { numRuns: 500 },
  );
});
