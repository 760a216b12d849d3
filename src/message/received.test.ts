/** The Received: trace header (RFC 5321 4.4) and its date (RFC 5322 3.3). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { receivedHeader, receivedProtocol, rfc5322Date, type ReceivedFields } from './received.js';

const DATE = new Date(Date.UTC(2026, 10, 4, 9, 5, 7));
const fields = (extra: Partial<ReceivedFields> = {}): ReceivedFields => ({
  helo: 'client.test',
  clientIp: '192.0.2.1',
  hostname: 'mx.test',
  protocol: 'ESMTP',
  method: 'BDAT',
  id: 'ABC123',
  rcpts: ['x@mx.test'],
  date: DATE,
  ...extra,
});

test('the header for one recipient names it in a for clause', () => {
  assert.equal(
    receivedHeader(fields()).toString('utf8'),
    'Received: from client.test ([192.0.2.1])\r\n\tby mx.test (Barge) with ESMTP (BDAT) id ABC123\r\n\tfor <x@mx.test>;\r\n\tWed, 4 Nov 2026 09:05:07 +0000\r\n',
  );
});

test('with several (or no) recipients there is no for clause (RFC 5321 7.2)', () => {
  for (const rcpts of [['x@mx.test', 'y@mx.test'], []]) {
    const text = receivedHeader(fields({ rcpts, method: 'DATA', protocol: 'SMTP' })).toString('utf8');
    assert.equal(
      text,
      'Received: from client.test ([192.0.2.1])\r\n\tby mx.test (Barge) with SMTP (DATA) id ABC123;\r\n\tWed, 4 Nov 2026 09:05:07 +0000\r\n',
    );
  }
});

test('every line is CRLF-terminated and continuation lines are folded with a tab', () => {
  const text = receivedHeader(fields()).toString('utf8');
  assert.ok(text.endsWith('\r\n'));
  assert.doesNotMatch(text, /\r(?!\n)|(?<!\r)\n/);
  for (const line of text.split('\r\n').slice(1, -1)) assert.match(line, /^\t\S/);
});

test('the HELO name cannot break the header or its comment', () => {
  const text = receivedHeader(fields({ helo: 'evil\r\nX-Injected: 1 (a;b)' })).toString('utf8');
  assert.doesNotMatch(text, /\r\nX-Injected/);
  assert.match(text, /^Received: from evilX-Injected: 1 ab \(\[192\.0\.2\.1\]\)\r\n/);
  assert.match(receivedHeader(fields({ helo: '' })).toString('utf8'), /^Received: from unknown \(/);
});

test('an IPv6 client is written as an IPv6 address literal (RFC 5321 4.1.3)', () => {
  assert.match(
    receivedHeader(fields({ clientIp: '2001:db8::25' })).toString('utf8'),
    /^Received: from client\.test \(\[IPv6:2001:db8::25\]\)\r\n/,
  );
});

test('UTF-8 names are kept as UTF-8 (RFC 6532)', () => {
  const buf = receivedHeader(fields({ rcpts: ['j\u00f6rg@mx.test'], protocol: 'UTF8SMTP' }));
  assert.match(buf.toString('utf8'), /with UTF8SMTP \(BDAT\) id ABC123\r\n\tfor <j\u00f6rg@mx\.test>;/);
});

test('receivedProtocol gives the RFC 3848 / RFC 6531 "with" names', () => {
  assert.equal(receivedProtocol(false, false), 'SMTP');
  assert.equal(receivedProtocol(false, true, true, true), 'SMTP');
  assert.equal(receivedProtocol(true, false), 'ESMTP');
  assert.equal(receivedProtocol(true, false, true), 'ESMTPS');
  assert.equal(receivedProtocol(true, false, true, true), 'ESMTPSA');
  assert.equal(receivedProtocol(true, false, false, true), 'ESMTPA');
  assert.equal(receivedProtocol(true, true), 'UTF8SMTP');
  assert.equal(receivedProtocol(true, true, true, true), 'UTF8SMTPSA');
});

test('rfc5322Date is UTC with a +0000 zone, padded time and no leading zero on the day', () => {
  assert.equal(rfc5322Date(new Date(Date.UTC(2024, 1, 29, 0, 0, 0))), 'Thu, 29 Feb 2024 00:00:00 +0000');
  assert.equal(rfc5322Date(new Date(Date.UTC(1999, 11, 31, 23, 59, 59))), 'Fri, 31 Dec 1999 23:59:59 +0000');
  assert.equal(rfc5322Date(new Date(Date.UTC(2026, 0, 1, 1, 2, 3))), 'Thu, 1 Jan 2026 01:02:03 +0000');
});
