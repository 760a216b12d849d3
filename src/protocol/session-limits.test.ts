/**
 * Command sequencing and limits (RFC 5321 4.1.4, 4.5.3.1): line length, recipients, error count,
 * unknown and disabled verbs, VRFY/EXPN/HELP/ETRN, EHLO/HELO, enhanced codes on or off, what each reply answers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytes, everySplit, run, OPEN } from './session-harness.test-support.js';

const last = (input: string, o: Parameters<typeof run>[1] = {}): string | undefined => run([bytes(input)], o).replies.at(-1);

test('a command line of 512 octets is accepted; 513 is 500 5.5.2 (RFC 5321 4.5.3.1.4)', () => {
  assert.equal(last(`EHLO c\r\nNOOP ${'x'.repeat(505)}\r\n`), '250 2.0.0');
  assert.equal(last(`EHLO c\r\nNOOP ${'x'.repeat(506)}\r\n`), '500 5.5.2');
  assert.equal(last(`EHLO c\r\nNOOP ${'x'.repeat(505)}\n\r\n`), '500 5.5.2', 'a bare LF is part of the line and counts');
});

test('the rest of an over-long line is never parsed as a command, however it arrives', () => {
  // A reader that cut the line at 512 octets would see "QUIT" (or the MAIL) as the next command.
  const input = bytes(`EHLO c\r\nNOOP ${'a'.repeat(507)}QUIT\r\nNOOP ${'b'.repeat(3000)}\rMAIL FROM:<e@x.test>\r\nNOOP\r\n`);
  everySplit(input, (r, label) => {
    assert.deepEqual(r.replies, ['220', '250', '500 5.5.2', '500 5.5.2', '250 2.0.0'], label);
    assert.ok(!r.closed, label);
  });
});

test('with DSN offered, MAIL and RCPT lines may be 500 octets longer (RFC 3461 5); other verbs may not', () => {
  const orcpt = (n: number): string => `RCPT TO:<x@mx.test> ORCPT=rfc822;${'a'.repeat(n)}\r\n`;
  const base = orcpt(0).length;
  const mail = 'EHLO c\r\nMAIL FROM:<a@c.test>\r\n';
  assert.equal(last(`${mail}${orcpt(1012 - base)}`), '250 2.1.5');
  assert.equal(last(`${mail}${orcpt(1013 - base)}`), '500 5.5.2');
  assert.equal(last(`EHLO c\r\nNOOP ${'x'.repeat(700)}\r\n`), '500 5.5.2');
  assert.equal(last(`${mail}${orcpt(600)}`, { mask: 7697601 & ~0x40 }), '500 5.5.2');
});

test('more recipients than allowed get 452 4.5.3 and the accepted ones still receive the message', () => {
  const r = run([bytes(`${OPEN}RCPT TO:<y@mx.test>\r\nRCPT TO:<z@mx.test>\r\nBDAT 1 LAST\r\nm`)], { maxRecipients: 2 });
  assert.deepEqual(r.replies.slice(3), ['250 2.1.5', '250 2.1.5', '452 4.5.3', '250 2.0.0']);
  assert.deepEqual(
    r.messages[0]?.message.transaction.rcpts.map((x) => x.address),
    ['x@mx.test', 'y@mx.test'],
  );
});

test('too many errors: 421 4.7.0 and close; 4xx replies do not count; an open message is discarded', () => {
  const r = run([bytes('EHLO c\r\nFOO\r\nBAR\r\nBAZ\r\nNOOP\r\n')], { maxErrors: 3 });
  assert.deepEqual(r.replies, ['220', '250', '500 5.5.1', '500 5.5.1', '500 5.5.1', '421 4.7.0']);
  assert.ok(r.closed);
  const fours = run([bytes(`${OPEN}RCPT TO:<y@mx.test>\r\nRCPT TO:<z@mx.test>\r\nX\r\nNOOP\r\n`)], { maxErrors: 2, maxRecipients: 1 });
  assert.deepEqual(fours.replies.slice(4), ['452 4.5.3', '452 4.5.3', '500 5.5.1', '250 2.0.0']);
  const open = run([bytes(`${OPEN}BDAT 2\r\nabX\r\nY\r\n`)], { maxErrors: 2 });
  assert.deepEqual(open.kinds.slice(-5), ['send', 'send', 'discard', 'send', 'close']);
  assert.equal(open.messages.length, 0);
});

test('unknown, empty and disabled verbs are 500 5.5.1 or 502 5.5.1', () => {
  assert.equal(last('EHLO c\r\nFROB x\r\n'), '500 5.5.1');
  assert.equal(last('EHLO c\r\n\r\n'), '500 5.5.1');
  assert.equal(last('EHLO c\r\nTURN\r\n'), '500 5.5.1');
  assert.equal(last('EHLO c\r\nSTARTTLS\r\n'), '500 5.5.1');
});

test('sequence errors are 503 5.5.1: MAIL before EHLO, RCPT before MAIL, DATA before RCPT, nested MAIL', () => {
  assert.equal(last('MAIL FROM:<a@c.test>\r\n'), '503 5.5.1');
  assert.equal(last('EHLO c\r\nRCPT TO:<x@mx.test>\r\n'), '503 5.5.1');
  assert.equal(last('EHLO c\r\nDATA\r\n'), '503 5.5.1');
  assert.equal(last('EHLO c\r\nMAIL FROM:<a@c.test>\r\nMAIL FROM:<a@c.test>\r\n'), '503 5.5.1');
  assert.equal(last('EHLO c\r\nMAIL FROM:<a@c.test>\r\nDATA\r\n'), '554 5.5.1');
  assert.equal(last(`${OPEN}DATA now\r\n`), '501 5.5.4');
  assert.equal(last('EHLO\r\n'), '501 5.5.4');
  assert.equal(last('HELO \r\n'), '501 5.5.4');
});

test('verbs are case-insensitive', () => {
  const r = run([bytes('ehlo c\r\nmail from:<a@c.test>\r\nrcpt to:<x@mx.test>\r\nbdat 1 last\r\nz')]);
  assert.deepEqual(r.replies.slice(1), ['250', '250 2.1.0', '250 2.1.5', '250 2.0.0']);
});

test('EHLO lists the extensions; HELO does not; both reset a transaction', () => {
  const r = run([bytes('EHLO client.test\r\n')]);
  assert.deepEqual(r.lines, [
    '220 mx.test ESMTP Barge ready',
    '250-mx.test Hello client.test [192.0.2.1]',
    '250-PIPELINING',
    '250-SIZE 1000000',
    '250-8BITMIME',
    '250-BINARYMIME',
    '250-CHUNKING',
    '250-DSN',
    '250-ENHANCEDSTATUSCODES',
    '250-SMTPUTF8',
    '250-ETRN',
    '250 HELP',
  ]);
  assert.equal(r.session.helo, 'client.test');
  assert.equal(r.session.esmtp, true);
  const helo = run([bytes('HELO old.test\r\n')]);
  assert.deepEqual(helo.lines.slice(1), ['250 2.0.0 mx.test Hello old.test [192.0.2.1]']);
  assert.equal(helo.session.esmtp, false);
  const reset = run([bytes('EHLO c\r\nMAIL FROM:<a@c.test>\r\nHELO c\r\nRCPT TO:<x@mx.test>\r\n')]);
  assert.equal(reset.replies.at(-1), '503 5.5.1');
});

test('VRFY answers 252 2.5.0 (or 502 when off); EXPN is 502 unless enabled', () => {
  assert.equal(last('EHLO c\r\nVRFY someone\r\n'), '252 2.5.0');
  assert.equal(last('EHLO c\r\nVRFY\r\n'), '501 5.5.4');
  assert.equal(last('EHLO c\r\nVRFY someone\r\n', { vrfy: 'off' }), '502 5.5.1');
  assert.equal(last('EHLO c\r\nEXPN list\r\n'), '502 5.5.1');
  assert.equal(last('EHLO c\r\nEXPN list\r\n', { expn: true }), '252 2.5.0');
});

test('HELP answers 214 on several lines, before EHLO too; switched off it is 502', () => {
  const r = run([bytes('HELP\r\n')]);
  assert.match(r.lines[1] ?? '', /^214-2\.0\.0 Commands: .*BDAT/);
  assert.equal(r.replies.at(-1), '214 2.0.0');
  assert.equal(last('HELP\r\n', { switches: { help: false } }), '502 5.5.1');
});

test('ETRN starts a queue run for the node (RFC 1985) and needs the extension and a greeting', () => {
  const r = run([bytes('EHLO c\r\nETRN Example.TEST\r\nETRN @sub.example.test\r\nETRN #queue1\r\nETRN bad/node\r\n')]);
  assert.deepEqual(r.replies.slice(2), ['250 2.0.0', '250 2.0.0', '250 2.0.0', '501 5.5.4']);
  assert.deepEqual(r.etrn, ['example.test', '@sub.example.test', '#queue1']);
  assert.equal(last('ETRN example.test\r\n'), '503 5.5.1');
  assert.equal(last('EHLO c\r\nMAIL FROM:<a@c.test>\r\nETRN example.test\r\n'), '503 5.5.1');
  const off = run([bytes('EHLO c\r\nETRN example.test\r\n')], { switches: { etrn: false } });
  assert.ok(!off.lines.includes('250-ETRN'));
  assert.equal(off.replies.at(-1), '502 5.5.1');
  assert.deepEqual(off.etrn, []);
});

test('without ENHANCEDSTATUSCODES replies carry no enhanced code', () => {
  const r = run([bytes('EHLO c\r\nFROB\r\nNOOP\r\n')], { switches: { enhancedstatuscodes: false } });
  assert.ok(!r.lines.includes('250-ENHANCEDSTATUSCODES'));
  assert.deepEqual(r.finals.slice(-2), ['500 Command unrecognized', '250 OK']);
});

test('each reply says which command it answers; the end of a message carries its queue id', () => {
  const r = run([bytes(`${OPEN}BDAT 2\r\nabBDAT 1 LAST\r\ncMAIL FROM:<b@c.test>\r\nRCPT TO:<x@mx.test>\r\nDATA\r\nd\r\n.\r\nQUIT\r\n`)]);
  const command = (verb: string, args: string) => ({ kind: 'command', verb, args });
  assert.deepEqual(
    r.answers.map((a) => a.answered),
    [
      command('EHLO', 'client.test'),
      command('MAIL', 'FROM:<a@client.test>'),
      command('RCPT', 'TO:<x@mx.test>'),
      command('BDAT', '2'),
      { kind: 'message', method: 'BDAT', args: '1 LAST', queued: 'X1' },
      command('MAIL', 'FROM:<b@c.test>'),
      command('RCPT', 'TO:<x@mx.test>'),
      { kind: 'message', method: 'DATA', args: '', queued: 'X2' },
      command('QUIT', ''),
    ],
  );
  assert.deepEqual(
    r.answers.map((a) => a.code),
    [250, 250, 250, 250, 250, 250, 250, 250, 221],
  );
});
