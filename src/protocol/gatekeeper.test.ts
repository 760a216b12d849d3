/**
 * The gatekeeper's order, seen through the session: TLS required, then AUTH required, then the verb
 * offered, then HELO/EHLO seen, then EHLO seen; each refusal with its own reply.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytes, run } from './session-harness.test-support.js';
import { isVerb, VERBS } from './gatekeeper.js';

const last = (input: string, o: Parameters<typeof run>[1] = {}): string | undefined => run([bytes(input)], o).replies.at(-1);
/** The last reply line, text included (530 5.7.0 is both "STARTTLS first" and "Authentication required"). */
const text = (input: string, o: Parameters<typeof run>[1] = {}): string => run([bytes(input)], o).finals.at(-1) ?? '';

test('TLS required comes first, even before the greeting and for verbs switched off', () => {
  assert.match(text('MAIL FROM:<a@b.test>\r\n', { tls: 'required', auth: 'required' }), /^530 5\.7\.0 Must issue a STARTTLS/);
  assert.match(text('ETRN x.test\r\n', { tls: 'required', switches: { etrn: false } }), /^530 5\.7\.0 Must issue a STARTTLS/);
  assert.match(text('AUTH PLAIN\r\n', { tls: 'required', auth: 'off' }), /^530 5\.7\.0 Must issue a STARTTLS/);
});

test('AUTH required comes before the verb being offered and before the greeting; AUTH itself is not held back', () => {
  assert.match(text('VRFY bob\r\n', { tls: 'implicit', auth: 'required', vrfy: 'off' }), /^530 5\.7\.0 Authentication required/);
  assert.match(text('MAIL FROM:<a@b.test>\r\n', { tls: 'implicit', auth: 'required' }), /^530 5\.7\.0 Authentication required/);
  assert.equal(last('AUTH PLAIN\r\n', { tls: 'implicit', auth: 'required' }), '503 5.5.1');
});

test('a verb switched off is 502 before any sequence check; then HELO/EHLO, then EHLO for AUTH', () => {
  assert.equal(last('ETRN x.test\r\n', { switches: { etrn: false } }), '502 5.5.1');
  assert.equal(last('ETRN x.test\r\n'), '503 5.5.1');
  assert.equal(last('AUTH PLAIN\r\n', { tls: 'implicit', auth: 'off' }), '502 5.5.1');
  assert.equal(last('HELO c\r\nAUTH PLAIN\r\n', { tls: 'implicit', auth: 'optional' }), '503 5.5.1');
  assert.equal(last('EHLO c\r\nAUTH PLAIN\r\n', { tls: 'implicit', auth: 'optional' }), '334');
  assert.equal(last('HELP\r\n', { switches: { help: false } }), '502 5.5.1');
});

test('the verbs are those of RFC 5321 and its extensions; anything else is not a verb', () => {
  assert.ok(VERBS.every(isVerb));
  assert.ok(!isVerb('TURN') && !isVerb('mail') && !isVerb(''));
});
