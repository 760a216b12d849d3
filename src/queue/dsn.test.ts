/** RFC 3464 reports, parsed back field by field. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildDsn, wantsDsn, type DsnInput } from './dsn.js';
import type { SpoolEnvelope } from './spool.js';

const envelope: SpoolEnvelope = {
  id: 'Q1',
  receivedAt: '2026-11-24T10:00:00.000Z',
  listener: 'smtp',
  clientIp: '127.0.0.1',
  helo: 'c.test',
  protocol: 'ESMTP',
  method: 'BDAT',
  chunks: 1,
  size: 10,
  messageLength: 10,
  transaction: {
    from: 'alice@example.org',
    body: '8BITMIME',
    smtputf8: false,
    envid: 'ENV-42',
    ret: 'HDRS',
    rcpts: [{ address: 'bob@example.net', local: false }],
  },
};
const original = Buffer.from('Subject: hello\r\nFrom: alice@example.org\r\n\r\nbody caf\xe9\r\n', 'latin1');

function input(over: Partial<DsnInput> = {}): DsnInput {
  return {
    reportingMta: 'mx.example.org',
    envelope,
    original: original.subarray(0, original.indexOf('\r\n\r\n') + 2),
    returnFull: false,
    now: new Date('2026-11-24T12:00:00Z'),
    boundary: 'BOUNDARY',
    recipients: [
      {
        address: 'bob@example.net',
        orcpt: 'rfc822;Bob@Example.net',
        action: 'failed',
        status: '5.1.1',
        remoteMta: 'dns; mx.example.net',
        diagnostic: 'smtp; 550 5.1.1 no such user',
        lastAttempt: new Date('2026-11-24T11:59:00Z'),
      },
    ],
    ...over,
  };
}

/** Splits the report into its MIME parts and the delivery-status blocks into field maps. */
function parse(dsn: Buffer): { headers: string; parts: string[]; status: Array<Map<string, string>> } {
  const text = dsn.toString('latin1');
  const [headers = '', ...rest] = text.split('\r\n--BOUNDARY');
  const parts = rest.slice(0, -1).map((p) => p.replace(/^\r\n/, ''));
  const statusPart = parts.find((p) => p.startsWith('Content-Type: message/delivery-status')) ?? '';
  const blocks = statusPart
    .split('\r\n\r\n')
    .slice(1)
    .filter((b) => b.trim() !== '');
  const status = blocks.map(
    (b) =>
      new Map(
        b
          .replace(/\r\n[ \t]+/g, ' ')
          .split('\r\n')
          .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()] as [string, string]),
      ),
  );
  return { headers, parts, status };
}

test('a failure report carries every field of RFC 3464', () => {
  const dsn = buildDsn(input());
  const { headers, parts, status } = parse(dsn);
  assert.match(headers, /^From: Mail Delivery System <MAILER-DAEMON@mx\.example\.org>\r$/m);
  assert.match(headers, /^To: <alice@example\.org>\r$/m);
  assert.match(headers, /^Auto-Submitted: auto-replied\r$/m);
  assert.match(headers, /^Content-Type: multipart\/report; report-type=delivery-status;\r\n\tboundary="BOUNDARY"\r$/m);
  assert.equal(parts.length, 3);
  const [message, recipient] = status;
  assert.equal(message?.get('Reporting-MTA'), 'dns; mx.example.org');
  assert.equal(message?.get('Original-Envelope-Id'), 'ENV-42');
  assert.equal(message?.get('Arrival-Date'), 'Tue, 24 Nov 2026 10:00:00 +0000');
  assert.equal(recipient?.get('Original-Recipient'), 'rfc822;Bob@Example.net');
  assert.equal(recipient?.get('Final-Recipient'), 'rfc822; bob@example.net');
  assert.equal(recipient?.get('Action'), 'failed');
  assert.equal(recipient?.get('Status'), '5.1.1');
  assert.equal(recipient?.get('Remote-MTA'), 'dns; mx.example.net');
  assert.equal(recipient?.get('Diagnostic-Code'), 'smtp; 550 5.1.1 no such user');
  assert.match(parts[2] ?? '', /^Content-Type: text\/rfc822-headers\r\n[\s\S]*Subject: hello\r\nFrom: alice@example\.org\r\n/);
  assert.doesNotMatch(parts[2] ?? '', /body/);
  for (const line of dsn.toString('latin1').split('\r\n')) assert.ok(line.length <= 998);
  assert.doesNotMatch(dsn.toString('latin1'), /[^\r]\n/, 'CRLF only');
});

test('RET=FULL returns the whole message; a delay report says until when it is retried', () => {
  const full = parse(buildDsn(input({ original, returnFull: true })));
  assert.match(
    full.parts[2] ?? '',
    /^Content-Type: message\/rfc822\r\n[\s\S]*Content-Transfer-Encoding: 8bit\r\n\r\nSubject: hello[\s\S]*body caf\xe9\r\n/,
  );
  const delayed = parse(
    buildDsn(
      input({
        recipients: [{ address: 'bob@example.net', action: 'delayed', status: '4.4.1', willRetryUntil: new Date('2026-11-29T10:00:00Z') }],
      }),
    ),
  );
  assert.match(delayed.headers, /^Subject: Delayed Mail/m);
  assert.equal(delayed.status[1]?.get('Will-Retry-Until'), 'Sun, 29 Nov 2026 10:00:00 +0000');
});

test('a hostile diagnostic cannot add header fields', () => {
  const dsn = buildDsn(
    input({
      recipients: [
        { address: 'bob@example.net', action: 'failed', status: '5.0.0', diagnostic: 'smtp; 550 x\r\nStatus: 2.0.0\r\n\r\nInjected: yes' },
      ],
    }),
  );
  const { status } = parse(dsn);
  assert.equal(status[1]?.get('Status'), '5.0.0');
  assert.equal(status.length, 2);
  assert.doesNotMatch(dsn.toString('latin1'), /^Injected:/m);
});

test('NOTIFY decides who is told (RFC 3461 4.1); the null sender never is', () => {
  assert.equal(wantsDsn('a@b', undefined, 'failed'), true);
  assert.equal(wantsDsn('a@b', undefined, 'delayed'), true);
  assert.equal(wantsDsn('a@b', undefined, 'delivered'), false);
  assert.equal(wantsDsn('a@b', [], 'failed'), false, 'NEVER');
  assert.equal(wantsDsn('a@b', ['SUCCESS'], 'relayed'), true);
  assert.equal(wantsDsn('a@b', ['SUCCESS'], 'failed'), false);
  assert.equal(wantsDsn('', ['FAILURE'], 'failed'), false);
});
