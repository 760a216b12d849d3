import { test } from 'node:test';
import assert from 'node:assert/strict';
import { drive, EHLO_FULL, EHLO_PLAIN, GREETING, message, type Drive, type DriveOptions } from './client-harness.test-support.js';

const BODY = 'Subject: hi\r\n\r\nhello\r\n';

/** The same result for the turns whole, byte by byte, and split at every offset. */
function everySplit(turns: readonly string[], o: DriveOptions, check: (d: Drive) => void): void {
  const total = turns.reduce((n, t) => n + Buffer.byteLength(t, 'latin1'), 0);
  const whole = drive(turns, o);
  check(whole);
  const same = (d: Drive, how: string): void => {
    assert.deepEqual(d.commands, whole.commands, how);
    assert.deepEqual(d.outcomes, whole.outcomes, how);
    assert.ok(d.wire.equals(whole.wire), how);
  };
  same(drive(turns, { ...o, split: 'bytes' }), 'byte by byte');
  for (let at = 1; at < total; at++) same(drive(turns, { ...o, split: at }), `split at ${at}`);
}

test('BDAT with pipelining: EHLO, MAIL+RCPT in one write, one BDAT LAST, QUIT; delivered at every split offset', () => {
  const m = message(BODY);
  everySplit(
    [GREETING, EHLO_FULL, '250 2.1.0 OK\r\n250 2.1.5 OK\r\n', '250 2.0.0 queued as X1\r\n', '221 2.0.0 bye\r\n'],
    { messages: [m.message], bodies: [m.body] },
    (d) => {
      assert.deepEqual(d.commands, [
        'EHLO client.test',
        `MAIL FROM:<alice@example.org> SIZE=${BODY.length}`,
        'RCPT TO:<bob@example.net>',
        `BDAT ${BODY.length} LAST`,
        'QUIT',
      ]);
      assert.deepEqual(d.classes, ['greeting', 'command', 'command', 'end-of-data', 'command']);
      assert.equal(d.outcomes[0]?.kind, 'ready');
      assert.deepEqual(d.outcomes[1], {
        kind: 'delivered',
        method: 'BDAT',
        chunks: 1,
        recipients: [{ address: 'bob@example.net', kind: 'delivered', status: '2.0.0', detail: 'BDAT: 250 2.0.0 queued as X1' }],
      });
      assert.ok(d.wire.includes(`BDAT ${BODY.length} LAST\r\n${BODY}QUIT\r\n`));
      assert.equal(d.closed, true);
    },
  );
});

test('DATA with dot-stuffing when CHUNKING is not offered; per-recipient outcomes at every split offset', () => {
  const m = message('.dot\r\nline\r\n..two', ['bob@example.net', 'nobody@example.net']);
  const turns = [GREETING, EHLO_PLAIN, '250 OK\r\n250 OK\r\n550 5.1.1 no such user\r\n', '354 go\r\n', '250 2.0.0 done\r\n', '221 bye\r\n'];
  everySplit(turns, { messages: [m.message], bodies: [m.body] }, (d) => {
    assert.ok(d.wire.includes('DATA\r\n..dot\r\nline\r\n...two\r\n.\r\nQUIT\r\n'), d.wire.toString('latin1'));
    assert.deepEqual(d.outcomes[1], {
      kind: 'delivered',
      method: 'DATA',
      chunks: 0,
      recipients: [
        { address: 'bob@example.net', kind: 'delivered', status: '2.0.0', detail: 'DATA: 250 2.0.0 done' },
        { address: 'nobody@example.net', kind: 'permanent', status: '5.1.1', detail: 'RCPT: 550 5.1.1 no such user' },
      ],
    });
    assert.deepEqual(d.classes.slice(-2), ['end-of-data', 'command']);
  });
});

test('EHLO refused: HELO, no ESMTP parameters, DATA', () => {
  const m = message(BODY);
  const d = drive(
    [GREETING, '500 5.5.1 what\r\n', '250 mx.example\r\n', '250 OK\r\n', '250 OK\r\n', '354 go\r\n', '250 done\r\n', '221 bye\r\n'],
    { messages: [m.message], bodies: [m.body] },
  );
  assert.deepEqual(d.commands.slice(0, 5), [
    'EHLO client.test',
    'HELO client.test',
    'MAIL FROM:<alice@example.org>',
    'RCPT TO:<bob@example.net>',
    'DATA',
  ]);
  assert.equal(d.outcomes[1]?.kind, 'delivered');
});

test('STARTTLS, EHLO again, AUTH PLAIN or LOGIN with secrets masked in the log', () => {
  const ehlo = '250-mx.example\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n';
  const after = '250-mx.example\r\n250 AUTH PLAIN LOGIN\r\n';
  const auth = { username: 'u', password: 'secret' };
  const plain = drive([GREETING, ehlo, '220 go ahead\r\n', after, '235 ok\r\n', '221 bye\r\n'], { session: { auth } });
  assert.deepEqual(plain.commands, ['EHLO client.test', 'STARTTLS', 'EHLO client.test', 'AUTH PLAIN ****', 'QUIT']);
  assert.equal(plain.tlsUpgrades, 1);
  assert.deepEqual(plain.outcomes[0], {
    kind: 'ready',
    caps: { esmtp: true, keywords: new Map([['AUTH', 'PLAIN LOGIN']]), greeting: 'mx.example ESMTP', name: 'mx.example' },
    tls: true,
  });
  assert.ok(plain.wire.includes(`AUTH PLAIN ${Buffer.from('\0u\0secret').toString('base64')}\r\n`));
  const login = drive(
    [
      GREETING,
      ehlo,
      '220 go\r\n',
      '250-mx\r\n250 AUTH LOGIN\r\n',
      '334 VXNlcm5hbWU6\r\n',
      '334 UGFzc3dvcmQ6\r\n',
      '235 ok\r\n',
      '221 bye\r\n',
    ],
    { session: { auth } },
  );
  assert.deepEqual(login.commands, ['EHLO client.test', 'STARTTLS', 'EHLO client.test', 'AUTH LOGIN', '****', '****', 'QUIT']);
  assert.equal(login.outcomes[0]?.kind, 'ready');
  const refused = drive([GREETING, ehlo, '220 go\r\n', after, '535 5.7.8 bad credentials\r\n'], { session: { auth } });
  assert.deepEqual(refused.outcomes, [
    { kind: 'rejected', stage: 'AUTH', recipients: [], code: 535, enhanced: '5.7.8', text: '535 5.7.8 bad credentials', permanent: true },
  ]);
});

test('TLS: a failed handshake, a required TLS not offered, credentials without TLS, STARTTLS refused', () => {
  const ehlo = '250-mx.example\r\n250 STARTTLS\r\n';
  assert.deepEqual(drive([GREETING, ehlo, '220 go\r\n'], { tlsFails: 'handshake failed: ECONNRESET' }).outcomes, [
    { kind: 'tlsFailure', reason: 'handshake failed: ECONNRESET', required: false },
  ]);
  assert.equal(drive([GREETING, EHLO_PLAIN], { session: { tls: 'required' } }).outcomes[0]?.kind, 'localFailure');
  assert.equal(drive([GREETING, EHLO_PLAIN], { session: { auth: { username: 'u', password: 'p' } } }).outcomes[0]?.kind, 'localFailure');
  const opportunistic = drive([GREETING, ehlo, '454 4.7.0 not now\r\n', '221 bye\r\n']);
  assert.deepEqual(opportunistic.commands, ['EHLO client.test', 'STARTTLS', 'QUIT']);
  assert.equal(opportunistic.outcomes[0]?.kind, 'ready');
  assert.equal(drive([GREETING, ehlo, '454 4.7.0 not now\r\n'], { session: { tls: 'required' } }).outcomes[0]?.kind, 'rejected');
  assert.deepEqual(drive([GREETING, ehlo, '221 bye\r\n'], { session: { tls: 'none' } }).commands, ['EHLO client.test', 'QUIT']);
});

test('refusals: a 554 greeting, MAIL refused (pipelined RCPT replies consumed, then RSET), every RCPT refused', () => {
  assert.deepEqual(drive(['554 5.7.1 go away\r\n']).outcomes, [
    { kind: 'rejected', stage: 'greeting', recipients: [], code: 554, enhanced: '5.7.1', text: '554 5.7.1 go away', permanent: true },
  ]);
  const m = message(BODY, ['a@x.example', 'b@x.example']);
  const mail = drive([GREETING, EHLO_FULL, '451 4.3.0 try later\r\n503 no MAIL\r\n503 no MAIL\r\n', '250 reset\r\n', '221 bye\r\n'], {
    messages: [m.message],
    bodies: [m.body],
  });
  assert.deepEqual(mail.commands.slice(1), [
    'MAIL FROM:<alice@example.org> SIZE=22',
    'RCPT TO:<a@x.example>',
    'RCPT TO:<b@x.example>',
    'RSET',
    'QUIT',
  ]);
  const refused = mail.outcomes[1];
  assert.ok(refused?.kind === 'rejected' && refused.stage === 'MAIL' && !refused.permanent);
  assert.deepEqual(
    refused.recipients.map((r) => [r.kind, r.status]),
    [
      ['temporary', '4.3.0'],
      ['temporary', '4.3.0'],
    ],
  );
  const rcpt = drive([GREETING, EHLO_FULL, '250 OK\r\n550 5.1.1 no\r\n450 4.2.0 full\r\n', '250 reset\r\n', '221 bye\r\n'], {
    messages: [m.message],
    bodies: [m.body],
  });
  const r = rcpt.outcomes[1];
  assert.ok(r?.kind === 'rejected' && r.stage === 'RCPT');
  assert.deepEqual(
    r.recipients.map((x) => [x.address, x.kind, x.status]),
    [
      ['a@x.example', 'permanent', '5.1.1'],
      ['b@x.example', 'temporary', '4.2.0'],
    ],
  );
  assert.ok(!rcpt.commands.some((c) => c.startsWith('BDAT')));
});

test('BDAT path failures: 502 although CHUNKING was advertised, silence, reset; the connection is closed', () => {
  const m = message(BODY);
  const o = { messages: [m.message], bodies: [m.body] };
  const envelope = [GREETING, EHLO_FULL, '250 OK\r\n250 OK\r\n'];
  const refused = drive([...envelope, '502 5.5.1 unrecognized\r\n'], o);
  assert.deepEqual(refused.outcomes[1], {
    kind: 'pathFailure',
    reason: 'BDAT answered "502 5.5.1 unrecognized" although CHUNKING was advertised',
  });
  assert.equal(refused.closed, true);
  assert.ok(!refused.commands.includes('QUIT'));
  const silent = drive(envelope, o);
  assert.equal(silent.outcomes[1]?.kind, 'pathFailure');
  assert.deepEqual(silent.classes.at(-1), 'end-of-data');
  assert.equal(drive(envelope, { ...o, closeAtEnd: true }).outcomes[1]?.kind, 'pathFailure');
  // The same silence after DATA's final dot is a timeout, not a path failure.
  const data = drive([GREETING, EHLO_PLAIN, '250 OK\r\n250 OK\r\n', '354 go\r\n'], o);
  assert.deepEqual(data.outcomes[1], { kind: 'timeout', stage: 'DATA', replyClass: 'end-of-data' });
});

test('BDAT health check: a small non-final chunk is answered (class bdat-check) before the rest is sent', () => {
  const body = 'x'.repeat(100);
  const m = message(body);
  const o = { messages: [m.message], bodies: [m.body], transaction: { bdatCheckBytes: 10 } };
  const ok = drive([GREETING, EHLO_FULL, '250 OK\r\n250 OK\r\n', '250 2.0.0 chunk\r\n', '250 2.0.0 queued\r\n', '221 bye\r\n'], o);
  assert.deepEqual(
    ok.commands.filter((c) => c.startsWith('BDAT')),
    ['BDAT 10', 'BDAT 90 LAST'],
  );
  assert.deepEqual(ok.classes.slice(3, 5), ['bdat-check', 'end-of-data']);
  assert.deepEqual(ok.outcomes[1], {
    kind: 'delivered',
    method: 'BDAT',
    chunks: 2,
    recipients: [{ address: 'bob@example.net', kind: 'delivered', status: '2.0.0', detail: 'BDAT: 250 2.0.0 queued' }],
  });
  const hole = drive([GREETING, EHLO_FULL, '250 OK\r\n250 OK\r\n'], o);
  assert.equal(hole.outcomes[1]?.kind, 'pathFailure');
  assert.equal(hole.classes.at(-1), 'bdat-check');
  assert.ok(!hole.wire.includes('BDAT 90 LAST'), 'nothing after the check chunk before its reply');
  // Content no longer than the check is checked with all but its last octet.
  const small = message('tiny');
  const one = drive([GREETING, EHLO_FULL, '250 OK\r\n250 OK\r\n', '250 check\r\n', '250 queued\r\n', '221 bye\r\n'], {
    ...o,
    messages: [small.message],
    bodies: [small.body],
  });
  assert.deepEqual(
    one.commands.filter((c) => c.startsWith('BDAT')),
    ['BDAT 3', 'BDAT 1 LAST'],
  );
});

test('chunks without pipelining wait for each reply; a failed chunk stops the content, RSET follows', () => {
  const m = message('y'.repeat(100));
  const o = {
    messages: [m.message],
    bodies: [m.body.flatMap((b) => [b.subarray(0, 33), b.subarray(33)])],
    transaction: { chunkSize: 40, allowPipelining: false },
  };
  const ok = drive([GREETING, EHLO_FULL, '250 OK\r\n', '250 OK\r\n', '250 c1\r\n', '250 c2\r\n', '250 done\r\n', '221 bye\r\n'], o);
  assert.deepEqual(
    ok.commands.filter((c) => /^(BDAT|MAIL|RCPT)/.test(c)).map((c) => c.split(' ').slice(0, 3).join(' ')),
    ['MAIL FROM:<alice@example.org> SIZE=100', 'RCPT TO:<bob@example.net>', 'BDAT 40', 'BDAT 40', 'BDAT 20 LAST'],
  );
  assert.deepEqual(ok.classes.slice(4, 7), ['bdat-chunk', 'bdat-chunk', 'end-of-data']);
  assert.equal(ok.outcomes[1]?.kind, 'delivered');
  const failed = drive([GREETING, EHLO_FULL, '250 OK\r\n', '250 OK\r\n', '452 4.3.1 disk full\r\n', '250 reset\r\n', '221 bye\r\n'], o);
  assert.deepEqual(failed.commands.slice(3), ['BDAT 40', 'RSET', 'QUIT']);
  const r = failed.outcomes[1];
  assert.ok(r?.kind === 'rejected' && r.stage === 'BDAT' && r.code === 452 && !r.permanent);
});

test('no round trip for what the peer cannot take; conversion for a peer without 8BITMIME; DSN parameters', () => {
  const utf8 = message(BODY, ['b@x.example'], { smtputf8: true });
  const d = drive([GREETING, EHLO_FULL, '221 bye\r\n'], { messages: [utf8.message], bodies: [utf8.body] });
  assert.deepEqual(d.outcomes[1], {
    kind: 'unsendable',
    recipients: [{ address: 'b@x.example', kind: 'permanent', status: '5.6.7', detail: 'peer does not offer SMTPUTF8 (RFC 6531 3.4)' }],
  });
  assert.deepEqual(d.commands, ['EHLO client.test', 'QUIT']);
  const eight = message('caf\xe9\r\n', ['b@x.example'], { body: '8BITMIME', ret: 'HDRS', envid: 'a+b' });
  const rcpts = [{ address: 'b@x.example', local: false, notify: ['SUCCESS' as const], orcpt: { type: 'rfc822', address: 'B@x.example' } }];
  const ehlo = '250-mx\r\n250-CHUNKING\r\n250-SIZE 100000\r\n250 DSN\r\n';
  const c = drive([GREETING, ehlo, '250 OK\r\n', '250 OK\r\n', '250 queued\r\n', '221 bye\r\n'], {
    messages: [{ ...eight.message, rcpts }],
    bodies: [[Buffer.from('converted\r\n')]],
  });
  assert.deepEqual(c.commands.slice(1, 4), [
    'MAIL FROM:<alice@example.org> SIZE=1033 RET=HDRS ENVID=a+2Bb',
    'RCPT TO:<b@x.example> NOTIFY=SUCCESS ORCPT=rfc822;B@x.example',
    'BDAT 11 LAST',
  ]);
  const delivered = c.outcomes[1];
  assert.ok(delivered?.kind === 'delivered' && delivered.converted?.startsWith('8-bit content converted'));
});

test('a 421 mid-transaction ends the session; a garbled reply is a lost connection', () => {
  const m = message(BODY);
  const d = drive([GREETING, EHLO_FULL, '421 4.3.2 shutting down\r\n'], { messages: [m.message], bodies: [m.body] });
  const r = d.outcomes[1];
  assert.ok(r?.kind === 'rejected' && r.code === 421 && r.recipients[0]?.kind === 'temporary');
  assert.equal(d.closed, true);
  assert.deepEqual(drive([GREETING, 'HTTP/1.1 400 Bad Request\r\n']).outcomes[0], {
    kind: 'connectionLost',
    stage: 'EHLO',
    reason: 'not an SMTP reply: malformed reply line: "HTTP/1.1 400 Bad Request"',
  });
});
