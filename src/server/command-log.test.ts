/** The protocol-log records the shell derives from what the session's replies answer. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytes, OPEN, run } from '../protocol/session-harness.test-support.js';
import { type CommandRecord, commandRecord } from './command-log.js';

const records = (input: string, o: Parameters<typeof run>[1] = {}): CommandRecord[] =>
  run([bytes(input)], o).answers.map((a) => commandRecord(a.answered, a.code));

test('each reply gives its W3C record: verb, arguments, status; DATA shows the queue id; QUIT logs 240', () => {
  const conversation = `${OPEN}BDAT 2\r\nabBDAT 1 LAST\r\ncMAIL FROM:<b@c.test>\r\nRCPT TO:<x@mx.test>\r\nDATA\r\nd\r\n.\r\nQUIT\r\n`;
  assert.deepEqual(records(conversation), [
    { method: 'EHLO', query: 'client.test', status: 250 },
    { method: 'MAIL', query: 'FROM:<a@client.test>', status: 250 },
    { method: 'RCPT', query: 'TO:<x@mx.test>', status: 250 },
    { method: 'BDAT', query: '2', status: 250 },
    { method: 'BDAT', query: '1 LAST', status: 250 },
    { method: 'MAIL', query: 'FROM:<b@c.test>', status: 250 },
    { method: 'RCPT', query: 'TO:<x@mx.test>', status: 250 },
    { method: 'DATA', query: 'X2', status: 250 },
    { method: 'QUIT', query: '', status: 240 },
  ]);
});

test('refused lines: an over-long command keeps its verb only; a refused message end shows no queue id', () => {
  assert.deepEqual(records(`EHLO c\r\nNOOP ${'x'.repeat(600)}\r\n`).at(-1), { method: 'NOOP', query: '', status: 500 });
  const big = records(`${OPEN}DATA\r\n${'y'.repeat(100)}\r\n.\r\n`, { maxMessageSize: 10 });
  assert.deepEqual(big.at(-1), { method: 'DATA', query: '', status: 552 });
});

test('AUTH is logged with its mechanism only', () => {
  const initial = Buffer.from('\0alice\0secret').toString('base64');
  const r = run([bytes(`EHLO c\r\nAUTH PLAIN ${initial}\r\n`)], { tls: 'implicit', auth: 'optional' });
  // The harness never answers `auth`; the refusals before it show the rule too.
  const refused = records(`EHLO c\r\nAUTH PLAIN ${initial}\r\n`, { tls: 'optional', auth: 'optional' });
  assert.deepEqual(refused.at(-1), { method: 'AUTH', query: 'PLAIN', status: 538 });
  assert.ok(!JSON.stringify(r.answers).includes(initial));
});
