/**
 * MAIL/RCPT through the session: SIZE (RFC 1870), SMTPUTF8 (RFC 6531), DSN parameters (RFC 3461),
 * and the enhanced codes (RFC 3463) of address and parameter errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytes, run, OPEN, type Options } from './session-harness.test-support.js';

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');
/** The reply ("code enhanced") to the last command of `input`. */
const lastReply = (input: string, o: Options = {}): string | undefined => run([utf8(input)], o).replies.at(-1);
const EHLO = 'EHLO c\r\n';

test('SIZE is advertised with the limit; MAIL SIZE= over it is 552 5.3.4, at it is accepted', () => {
  const o = { maxMessageSize: 1000 };
  assert.ok(run([bytes(EHLO)], o).lines.includes('250-SIZE 1000'));
  assert.equal(lastReply(`${EHLO}MAIL FROM:<a@c.test> SIZE=1001\r\n`, o), '552 5.3.4');
  assert.equal(lastReply(`${EHLO}MAIL FROM:<a@c.test> SIZE=99999999999999999999\r\n`, o), '552 5.3.4');
  assert.equal(lastReply(`${EHLO}MAIL FROM:<a@c.test> SIZE=1000\r\n`, o), '250 2.1.0');
  assert.equal(lastReply(`${EHLO}MAIL FROM:<a@c.test> size=0\r\n`, o), '250 2.1.0');
  for (const bad of ['SIZE', 'SIZE=', 'SIZE=-1', 'SIZE=1k'])
    assert.equal(lastReply(`${EHLO}MAIL FROM:<a@c.test> ${bad}\r\n`, o), '501 5.5.4', bad);
});

test('SIZE switched off is not advertised and SIZE= is an unsupported parameter', () => {
  const o: Options = { switches: { size: false } };
  assert.ok(!run([bytes(EHLO)], o).lines.some((l) => l.includes('SIZE')));
  assert.equal(lastReply(`${EHLO}MAIL FROM:<a@c.test> SIZE=10\r\n`, o), '555 5.5.4');
});

test('a DATA body over the limit is discarded when it crosses it and refused 552 5.3.4 after the end', () => {
  const body = `Subject: big\r\n\r\n${'x'.repeat(80)}\r\nQUIT\r\n${'y'.repeat(80)}\r\n`;
  const r = run([bytes(`${OPEN}DATA\r\n${body}.\r\nNOOP\r\n`)], { maxMessageSize: 100 });
  assert.deepEqual(r.replies.slice(4), ['354', '552 5.3.4', '250 2.0.0']);
  assert.deepEqual(r.discards, ['message size limit exceeded']);
  assert.equal(r.kinds.indexOf('discard') < r.kinds.lastIndexOf('send') - 1, true, 'discard precedes the 552');
  assert.equal(r.messages.length, 0);
  assert.ok(!r.closed);
});

test('the DATA limit counts octets after un-stuffing: exactly the limit is accepted', () => {
  const line = `.${'z'.repeat(96)}\r\n`; // 99 octets on the wire, 98 stored
  const ok = run([bytes(`${OPEN}DATA\r\n${line}..\r\n.\r\n`)], { maxMessageSize: 101 });
  assert.equal(ok.messages[0]?.body.length, 101);
  const over = run([bytes(`${OPEN}DATA\r\n${line}...\r\n.\r\n`)], { maxMessageSize: 101 });
  assert.deepEqual(over.replies.at(-1), '552 5.3.4');
});

test('a non-ASCII address needs SMTPUTF8 (553 5.6.7); with it, UTF-8 mailboxes are accepted and kept', () => {
  assert.ok(run([bytes(EHLO)]).lines.includes('250-SMTPUTF8'));
  assert.equal(lastReply(`${EHLO}MAIL FROM:<jörg@c.test>\r\n`), '553 5.6.7');
  assert.equal(lastReply(`${EHLO}MAIL FROM:<a@bücher.test>\r\n`), '553 5.6.7');
  assert.equal(lastReply(`${EHLO}MAIL FROM:<a@c.test>\r\nRCPT TO:<ü@mx.test>\r\n`), '553 5.6.7');
  const r = run([utf8(`${EHLO}MAIL FROM:<jörg@c.test> SMTPUTF8\r\nRCPT TO:<用户@mx.test>\r\nBDAT 0 LAST\r\n`)]);
  assert.deepEqual(r.replies.slice(2), ['250 2.1.0', '250 2.1.5', '250 2.0.0']);
  const tx = r.messages[0]?.message.transaction;
  assert.equal(tx?.from, 'jörg@c.test');
  assert.equal(tx?.smtputf8, true);
  assert.equal(tx?.rcpts[0]?.address, '用户@mx.test');
});

test('SMTPUTF8 takes no value, and is unsupported when switched off', () => {
  assert.equal(lastReply(`${EHLO}MAIL FROM:<a@c.test> SMTPUTF8=yes\r\n`), '555 5.5.4');
  assert.equal(lastReply(`${EHLO}MAIL FROM:<jörg@c.test> SMTPUTF8\r\n`, { switches: { smtputf8: false } }), '555 5.5.4');
});

test('RET and ENVID (xtext-decoded) are stored in the transaction', () => {
  const r = run([bytes(`${EHLO}MAIL FROM:<a@c.test> RET=hdrs ENVID=QQ+2B1+3Dx\r\nRCPT TO:<x@mx.test>\r\nBDAT 0 LAST\r\n`)]);
  const tx = r.messages[0]?.message.transaction;
  assert.equal(tx?.ret, 'HDRS');
  assert.equal(tx?.envid, 'QQ+1=x');
  const plain = run([bytes(`${OPEN}BDAT 0 LAST\r\n`)]).messages[0]?.message.transaction;
  assert.equal(plain?.ret, undefined);
  assert.equal(plain?.envid, undefined);
});

test('NOTIFY and ORCPT are stored per recipient; ORCPT is xtext-decoded as UTF-8', () => {
  const r = run([
    bytes(
      `${EHLO}MAIL FROM:<a@c.test>\r\n` +
        'RCPT TO:<x@mx.test> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;X+40mx.test\r\n' +
        'RCPT TO:<y@mx.test> NOTIFY=never\r\n' +
        'RCPT TO:<z@mx.test> ORCPT=utf-8;j+C3+B6rg+40mx.test\r\n' +
        'RCPT TO:<w@mx.test>\r\nBDAT 0 LAST\r\n',
    ),
  ]);
  const rcpts = r.messages[0]?.message.transaction.rcpts ?? [];
  assert.deepEqual(rcpts[0], {
    address: 'x@mx.test',
    local: true,
    notify: ['SUCCESS', 'DELAY'],
    orcpt: { type: 'rfc822', address: 'X@mx.test' },
  });
  assert.deepEqual(rcpts[1], { address: 'y@mx.test', local: true, notify: [] });
  assert.deepEqual(rcpts[2]?.orcpt, { type: 'utf-8', address: 'jörg@mx.test' });
  assert.deepEqual(rcpts[3], { address: 'w@mx.test', local: true });
});

test('invalid DSN parameters are refused: NEVER with others, repeats, unknown words, bad xtext', () => {
  const rcpt = (p: string): string | undefined => lastReply(`${EHLO}MAIL FROM:<a@c.test>\r\nRCPT TO:<x@mx.test> ${p}\r\n`);
  for (const p of [
    'NOTIFY=NEVER,SUCCESS',
    'NOTIFY=SUCCESS,NEVER',
    'NOTIFY=SUCCESS,SUCCESS',
    'NOTIFY=SOMETIMES',
    'NOTIFY=',
    'NOTIFY',
    'NOTIFY=SUCCESS,',
    'ORCPT=x@mx.test',
    'ORCPT=rfc822;',
    'ORCPT=;x',
    'ORCPT=rfc822;a+2b',
  ]) {
    assert.equal(rcpt(p), '501 5.5.4', p);
  }
  assert.equal(rcpt('NOTIFY=SUCCESS NOTIFY=FAILURE'), '501 5.5.4', 'repeated keyword');
  assert.equal(rcpt('FOO=1'), '555 5.5.4');
  const mail = (p: string): string | undefined => lastReply(`${EHLO}MAIL FROM:<a@c.test> ${p}\r\n`);
  for (const p of ['RET=ALL', 'RET', 'ENVID=a+2', 'ENVID=a+zz', `ENVID=${'e'.repeat(101)}`]) assert.equal(mail(p), '501 5.5.4', p);
  assert.equal(mail('RET=FULL RET=HDRS'), '501 5.5.4');
  assert.equal(mail('FROB'), '555 5.5.4');
});

test('with DSN off the DSN keywords are not advertised and are unsupported parameters', () => {
  const o: Options = { mask: 7697601 & ~0x40 };
  assert.ok(!run([bytes(EHLO)], o).lines.includes('250-DSN'));
  assert.equal(lastReply(`${EHLO}MAIL FROM:<a@c.test> RET=FULL\r\n`, o), '555 5.5.4');
  assert.equal(lastReply(`${EHLO}MAIL FROM:<a@c.test>\r\nRCPT TO:<x@mx.test> NOTIFY=NEVER\r\n`, o), '555 5.5.4');
});

test('ESMTP parameters after HELO are refused 555 5.5.4', () => {
  assert.equal(lastReply('HELO c\r\nMAIL FROM:<a@c.test> BODY=8BITMIME\r\n'), '555 5.5.4');
  assert.equal(lastReply('HELO c\r\nMAIL FROM:<a@c.test>\r\n'), '250 2.1.0');
});

test('address and parameter errors carry the right enhanced code (RFC 3463)', () => {
  const mail = (a: string): string | undefined => lastReply(`${EHLO}MAIL ${a}\r\n`);
  const rcpt = (a: string): string | undefined => lastReply(`${EHLO}MAIL FROM:<a@c.test>\r\nRCPT ${a}\r\n`);
  assert.equal(mail('FROM:<not an address>'), '501 5.1.7');
  assert.equal(mail('FROM:<postmaster>'), '501 5.1.7');
  assert.equal(mail(`FROM:<${'a'.repeat(250)}@c.test>`), '501 5.1.7');
  assert.equal(mail('TO:<a@c.test>'), '501 5.5.2');
  assert.equal(mail('FROM:<a@c.test'), '501 5.5.2');
  assert.equal(mail('FROM:<a@c.test> =1'), '501 5.5.4');
  assert.equal(rcpt('TO:<not an address>'), '501 5.1.3');
  assert.equal(rcpt('TO:<>'), '501 5.1.3');
  assert.equal(rcpt(`TO:<${'a'.repeat(250)}@mx.test>`), '501 5.1.3');
  assert.equal(rcpt('FROM:<x@mx.test>'), '501 5.5.2');
  assert.equal(rcpt('TO:<x@mx.test>junk'), '501 5.5.2');
  assert.equal(rcpt('TO:<x@mx.test> A=B=C'), '501 5.5.4');
});

test('the null sender, postmaster without a domain, a source route and lenient spellings are accepted', () => {
  const r = run([
    bytes(
      `${EHLO}MAIL FROM:<>\r\nRCPT TO:<Postmaster>\r\nRCPT TO:<@relay.test,@b.test:x@mx.test>\r\nrcpt to: <q@mx.test>\r\nBDAT 0 LAST\r\n`,
    ),
  ]);
  const tx = r.messages[0]?.message.transaction;
  assert.equal(tx?.from, '');
  assert.deepEqual(
    tx?.rcpts.map((x) => x.address),
    ['postmaster@mx.test', 'x@mx.test', 'q@mx.test'],
  );
});
