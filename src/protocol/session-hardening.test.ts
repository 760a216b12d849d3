/**
 * Hardening of the command phase: only CRLF ends a command line (a bare LF is refused with the whole
 * line, RFC 5321 2.3.8), RSET takes no argument, the junk command limit (Postfix's
 * smtpd_junk_command_limit), repeated recipients, octet lengths (4.5.3.1), <Postmaster> (4.5.1), ETRN policy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytes, everySplit, run, OPEN } from './session-harness.test-support.js';
import { Reply } from './replies.js';

test('a bare LF never ends a command line: MAIL ...\\nRCPT ... is one line, refused 500 5.5.2, at every split', () => {
  const input = bytes('EHLO c\r\nMAIL FROM:<a@c.test>\nRCPT TO:<x@mx.test>\r\nMAIL FROM:<b@c.test>\r\nRCPT TO:<x@mx.test>\r\n');
  everySplit(input, (r, label) => {
    assert.deepEqual(r.replies, ['220', '250', '500 5.5.2', '250 2.1.0', '250 2.1.5'], label);
  });
});

test('a CR split from its LF still ends the line; a line of bare LFs only is refused; a bare LF cannot smuggle a BDAT', () => {
  everySplit(bytes('EHLO c\r\n\n\r\nNOOP\r\n'), (r, label) => assert.deepEqual(r.replies, ['220', '250', '500 5.5.2', '250 2.0.0'], label));
  everySplit(bytes(`${OPEN}NOOP\nBDAT 5 LAST\r\nRSET\r\n`), (r, label) => {
    assert.deepEqual(r.replies.slice(4), ['500 5.5.2', '250 2.0.0'], label);
    assert.equal(r.messages.length, 0, label);
  });
});

test('an over-long line is discarded up to its CRLF, not up to a bare LF inside it', () => {
  const input = bytes(`EHLO c\r\nNOOP ${'a'.repeat(600)}\nQUIT\r\nNOOP\r\n`);
  everySplit(input, (r, label) => {
    assert.deepEqual(r.replies, ['220', '250', '500 5.5.2', '250 2.0.0'], label);
    assert.ok(!r.closed, label);
  });
});

test('RSET with an argument is 501 5.5.4 and keeps the transaction', () => {
  const r = run([bytes(`${OPEN}RSET now\r\nBDAT 1 LAST\r\nm`)]);
  assert.deepEqual(r.replies.slice(4), ['501 5.5.4', '250 2.0.0']);
  assert.equal(r.messages.length, 1);
});

test('junk commands: the 101st NOOP/RSET/VRFY/ETRN/HELP/HELO/EHLO gets 421 4.7.0 and the session closes', () => {
  const junk = ['NOOP', 'RSET', 'VRFY bob', 'ETRN x.test', 'HELP', 'HELO c', 'EHLO c'];
  const lines = Array.from({ length: 100 }, (_, i) => `${junk[i % junk.length] ?? 'NOOP'}\r\n`).join('');
  const r = run([bytes(`EHLO c\r\n${lines}NOOP\r\n`)]);
  assert.equal(r.codes.length, 1 + 101);
  assert.equal(r.replies.at(-1), '421 4.7.0');
  assert.ok(r.closed);
  assert.ok(!r.replies.slice(0, -1).some((x) => x.startsWith('421')));
});

test('junk commands are counted between accepted messages, and the limit is configurable', () => {
  const noops = (n: number): string => 'NOOP\r\n'.repeat(n);
  const msg = 'MAIL FROM:<a@c.test>\r\nRCPT TO:<x@mx.test>\r\nBDAT 1 LAST\r\nm';
  const r = run([bytes(`EHLO c\r\n${noops(90)}${msg}${noops(90)}QUIT\r\n`)]);
  assert.equal(r.replies.at(-1), '221 2.0.0');
  const small = run([bytes(`EHLO c\r\n${noops(3)}`)], { maxJunkCommands: 3 });
  assert.deepEqual(small.replies.slice(1), ['250', '250 2.0.0', '250 2.0.0', '421 4.7.0']);
});

test('a repeated recipient is answered 250 each time and delivered once (local: case-blind; remote: local-part exact)', () => {
  const rcpts = ['x@mx.test', 'x@mx.test', 'X@MX.test', 'u@relay.test', 'u@RELAY.test', 'U@relay.test']
    .map((a) => `RCPT TO:<${a}>\r\n`)
    .join('');
  const r = run([bytes(`EHLO c\r\nMAIL FROM:<a@c.test>\r\n${rcpts}BDAT 1 LAST\r\nm`)], {
    checkRecipient: (a) => ({ accept: a.toLowerCase().endsWith('@mx.test') ? 'local' : 'relay' }),
  });
  assert.deepEqual(r.replies.slice(3, 9), Array(6).fill('250 2.1.5'));
  assert.deepEqual(
    r.messages[0]?.message.transaction.rcpts.map((x) => x.address),
    ['x@mx.test', 'u@relay.test', 'U@relay.test'],
  );
});

test('address lengths are counted in octets: local-part 64, domain 255, path 256 (RFC 5321 4.5.3.1)', () => {
  const accept = { checkRecipient: () => ({ accept: 'relay' as const }) };
  const rcpt = (a: string): string | undefined =>
    run([bytes(`EHLO c\r\nMAIL FROM:<a@c.test> SMTPUTF8\r\nRCPT TO:<${a}>\r\n`)], accept).replies.at(-1);
  const mail = (a: string): string | undefined => run([bytes(`EHLO c\r\nMAIL FROM:<${a}> SMTPUTF8\r\n`)]).replies.at(-1);
  const cjk = '\u90f5'.repeat(21); // 63 octets
  assert.equal(rcpt(`${cjk}a@mx.test`), '250 2.1.5');
  assert.equal(rcpt(`${cjk}ab@mx.test`), '501 5.1.3');
  assert.equal(rcpt(`${'\u90f5'.repeat(100)}@mx.test`), '501 5.1.3', '100 characters, 300 octets');
  assert.equal(mail(`${'\u90f5'.repeat(22)}@c.test`), '501 5.1.7');
  const label = (n: number): string => 'd'.repeat(n);
  const domain255 = [label(63), label(63), label(63), label(63)].join('.'); // 255 octets
  assert.equal(rcpt(`a@${domain255}`), '501 5.1.3', 'the path would be 259 octets');
  assert.equal(rcpt(`${'a'.repeat(64)}@${[label(63), label(63), label(59)].join('.')}.test`), '501 5.1.3', '64 + 1 + 192 octets = 257 + 2');
  assert.equal(rcpt(`${'a'.repeat(64)}@${[label(63), label(63), label(56)].join('.')}.test`), '250 2.1.5', 'a path of exactly 256 octets');
});

test("RCPT TO:<Postmaster> in any case is accepted from anyone and goes to the primary domain's postmaster (RFC 5321 4.5.1)", () => {
  const r = run([bytes('EHLO c\r\nMAIL FROM:<a@c.test>\r\nRCPT TO:<pOsTmAsTeR>\r\nRCPT TO:<bob@far.test>\r\nBDAT 1 LAST\r\nm')], {
    postmaster: 'postmaster@primary.test',
    checkRecipient: () => ({ refuse: Reply.relayDenied() }),
  });
  assert.deepEqual(r.replies.slice(3), ['250 2.1.5', '554 5.7.1', '250 2.0.0']);
  assert.deepEqual(r.messages[0]?.message.transaction.rcpts, [{ address: 'postmaster@primary.test', local: true }]);
});

test('ETRN asks the policy; a refusal (458) starts nothing and does not count as an error', () => {
  const asked: string[] = [];
  const r = run([bytes('EHLO c\r\nETRN Example.TEST\r\nETRN example.test\r\n')], {
    maxErrors: 1,
    etrnPolicy: (node, user) => {
      asked.push(`${node}/${user ?? '-'}`);
      return Reply.etrnDenied();
    },
  });
  assert.deepEqual(r.replies.slice(2), ['458 4.7.1', '458 4.7.1']);
  assert.deepEqual(r.etrn, []);
  assert.deepEqual(asked, ['example.test/-', 'example.test/-']);
  assert.ok(!r.closed);
});

test('recipients far past max_recipients count as errors (Postfix overshoot limit), so a RCPT flood ends', () => {
  const rcpts = Array.from({ length: 12 }, (_, i) => `RCPT TO:<r${i}@mx.test>\r\n`).join('');
  const r = run([bytes(`EHLO c\r\nMAIL FROM:<a@c.test>\r\n${rcpts}NOOP\r\n`)], {
    maxRecipients: 2,
    maxRecipientOvershoot: 3,
    maxErrors: 4,
  });
  // 2 accepted, 3 refused 452 without counting, then 4 more 452 that count: the 4th ends the session.
  assert.deepEqual(r.replies.slice(3), ['250 2.1.5', '250 2.1.5', ...Array(7).fill('452 4.5.3'), '421 4.7.0']);
  assert.equal(r.closed, true);
  // Up to the overshoot limit a 452 is an ordinary "try later" (RFC 5321 4.5.3.1.8) and nothing counts.
  const mild = run([bytes(`EHLO c\r\nMAIL FROM:<a@c.test>\r\n${rcpts}NOOP\r\n`)], { maxRecipients: 2, maxErrors: 4 });
  assert.equal(mild.closed, false);
  assert.equal(mild.replies.at(-1), '250 2.0.0');
  // Repeats of one address count towards the limit too, so the same RCPT line cannot flood forever.
  const same = `RCPT TO:<r@mx.test>\r\n`.repeat(12);
  const repeated = run([bytes(`EHLO c\r\nMAIL FROM:<a@c.test>\r\n${same}`)], { maxRecipients: 2, maxRecipientOvershoot: 3, maxErrors: 4 });
  assert.equal(repeated.replies.at(-1), '421 4.7.0');
  assert.equal(repeated.closed, true);
});
