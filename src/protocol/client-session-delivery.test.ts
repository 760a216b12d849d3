/**
 * What delivery and `barge probe` need from the client session beyond the transaction itself:
 * REQUIRETLS, the name the peer gives itself (loop detection), credentials only over verified TLS, a
 * bounded TLS handshake, BDAT chunk events the shell times for the path's health, scripted commands
 * (`ask`), and replies read line by line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { drive, EHLO_FULL, GREETING, message } from './client-harness.test-support.js';
import { ClientSession } from './client-session.js';
import type { ClientAction, ClientOutcome } from './client-types.js';

const BODY = 'Subject: hi\r\n\r\nhello\r\n';

test('REQUIRETLS goes on MAIL FROM to a peer offering it; a peer without it gets nothing (5.7.10)', () => {
  const m = message(BODY, ['bob@example.net'], { requireTls: true });
  const ehlo = EHLO_FULL.replace('250 ENHANCEDSTATUSCODES', '250-ENHANCEDSTATUSCODES\r\n250 REQUIRETLS');
  const offered = drive([GREETING, ehlo, '250 OK\r\n250 OK\r\n', '250 queued\r\n', '221 bye\r\n'], {
    messages: [m.message],
    bodies: [m.body],
  });
  assert.ok(offered.commands.includes(`MAIL FROM:<alice@example.org> SIZE=${BODY.length} REQUIRETLS`), offered.commands.join('|'));
  assert.equal(offered.outcomes[1]?.kind, 'delivered');
  const lacking = drive([GREETING, EHLO_FULL, '221 bye\r\n'], { messages: [m.message], bodies: [m.body] });
  const outcome = lacking.outcomes[1];
  assert.ok(outcome?.kind === 'unsendable' && outcome.recipients[0]?.status === '5.7.10', JSON.stringify(outcome));
  assert.ok(!lacking.commands.some((c) => c.startsWith('MAIL')));
});

test('the peer name comes from the EHLO reply, or the HELO reply after EHLO is refused', () => {
  const ehlo = drive([GREETING, '250-relay.example Hello\r\n250 SIZE 10\r\n', '221 bye\r\n']);
  assert.ok(ehlo.outcomes[0]?.kind === 'ready' && ehlo.outcomes[0].caps.name === 'relay.example');
  const helo = drive([GREETING, '502 no\r\n', '250 old.example hi\r\n', '221 bye\r\n']);
  assert.ok(helo.outcomes[0]?.kind === 'ready' && helo.outcomes[0].caps.name === 'old.example');
});

test('with authTls "verified", credentials go only when the certificate verified', () => {
  const ehlo = '250-mx.example\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n';
  const after = '250-mx.example\r\n250 AUTH PLAIN\r\n';
  const session = { auth: { username: 'u', password: 'p' }, authTls: 'verified' as const };
  const unverified = drive([GREETING, ehlo, '220 go\r\n', after], {
    session,
    tlsInfo: { authorized: false, authorizationError: 'SELF_SIGNED' },
  });
  assert.ok(!unverified.commands.some((c) => c.startsWith('AUTH')));
  const failure = unverified.outcomes[0];
  assert.ok(failure?.kind === 'localFailure' && failure.stage === 'AUTH', JSON.stringify(failure));
  assert.match(failure.reason, /certificate is not verified \(SELF_SIGNED\).*AUTH not sent/);
  const verified = drive([GREETING, ehlo, '220 go\r\n', after, '235 ok\r\n', '221 bye\r\n'], { session, tlsInfo: { authorized: true } });
  assert.ok(verified.commands.includes('AUTH PLAIN ****'));
  assert.equal(verified.outcomes[0]?.kind, 'ready');
});

test('a TLS handshake that never completes is bounded like a command reply and fails as TLS', () => {
  const d = drive([GREETING, '250-mx.example\r\n250 STARTTLS\r\n', '220 go\r\n'], { tlsHangs: true });
  assert.equal(d.classes.at(-1), 'command');
  assert.equal(d.timeouts, 1);
  const outcome = d.outcomes[0];
  assert.ok(outcome?.kind === 'tlsFailure' && outcome.required === false, JSON.stringify(outcome));
  assert.match(outcome.reason, /TLS handshake/);
  assert.equal(d.closed, true);
});

test('BDAT chunk events: each chunk sent with its size, each answer in order; the LAST chunk is flagged before it goes', () => {
  const m = message('x'.repeat(100));
  const o = { messages: [m.message], bodies: [m.body], transaction: { bdatCheckBytes: 10, chunkSize: 40 } };
  const d = drive([GREETING, EHLO_FULL, '250 OK\r\n250 OK\r\n', '250 check\r\n', '250 a\r\n250 b\r\n250 queued\r\n', '221 bye\r\n'], o);
  assert.deepEqual(d.chunkEvents, [
    'sent 10 check',
    'answered 250',
    'sent 40',
    'sent 40',
    'LAST opened',
    'sent 10 last',
    'answered 250',
    'answered 250',
    'answered 250',
  ]);
  assert.equal(d.outcomes[1]?.kind, 'delivered');
  assert.deepEqual(drive([GREETING, EHLO_FULL, '250 OK\r\n250 OK\r\n'], o).chunkEvents, ['sent 10 check']);
});

test('ask: one scripted command at a time, its reply an answer whatever the code; the session stays ready', () => {
  const s = new ClientSession({ heloName: 'probe.test', tls: 'none' });
  s.receive(Buffer.from(GREETING));
  assert.equal(outcomeOf(s.receive(Buffer.from(EHLO_FULL)))?.kind, 'ready');
  assert.deepEqual(sent(s.ask('MAIL', 'MAIL FROM:<>')), 'MAIL FROM:<>\r\n');
  assert.deepEqual(outcomeOf(s.receive(Buffer.from('250 2.1.0 OK\r\n'))), {
    kind: 'answer',
    stage: 'MAIL',
    code: 250,
    enhanced: '2.1.0',
    text: '250 2.1.0 OK',
    permanent: false,
  });
  assert.equal(sent(s.ask('BDAT', 'BDAT 3', Buffer.from('abc'))), 'BDAT 3\r\nabc');
  assert.equal(s.awaiting, 'command');
  const refused = outcomeOf(s.receive(Buffer.from('502 5.5.1 no\r\n')));
  assert.ok(refused?.kind === 'answer' && refused.code === 502 && s.ready);
  // An empty ask sends nothing and reads a reply still owed.
  assert.deepEqual(s.ask('RSET', ''), []);
  assert.equal(outcomeOf(s.receive(Buffer.from('500 5.5.2 what\r\n')))?.kind, 'answer');
  s.ask('BDAT', 'BDAT 3', Buffer.from('abc'));
  assert.deepEqual(outcomeOf(s.timeout()), { kind: 'timeout', stage: 'BDAT', replyClass: 'command' });
  assert.equal(s.closed, true);
});

test('replies before a malformed line still count; bytes after the 220 to STARTTLS are dropped unread', () => {
  const s = new ClientSession({ heloName: 'c.test', tls: 'opportunistic' });
  s.receive(Buffer.from(GREETING));
  s.receive(Buffer.from('250-mx.example\r\n250 STARTTLS\r\n'));
  const actions = s.receive(Buffer.from('220 2.0.0 go ahead\r\nthis is not a TLS record\r\n'));
  assert.deepEqual(
    actions.map((a) => a.kind),
    ['reply', 'startTls'],
  );
  assert.equal(s.closed, false);
  const garbled = new ClientSession({ heloName: 'c.test', tls: 'none' });
  const out = garbled.receive(Buffer.from('220 mx ESMTP\r\n\x00garbage\r\n'));
  assert.deepEqual(
    out.map((a) => a.kind),
    ['reply', 'send', 'outcome', 'close'],
  );
  assert.match(JSON.stringify(outcomeOf(out)), /not an SMTP reply/);
});

test('a kept session the peer closed meanwhile: a transaction on it is a lost connection (retried fresh), not a local failure', () => {
  const s = new ClientSession({ heloName: 'c.test', tls: 'none' });
  s.receive(Buffer.from(GREETING));
  s.receive(Buffer.from(EHLO_FULL));
  s.connectionClosed();
  const m = message(BODY);
  assert.deepEqual(outcomeOf(s.send(m.message, { allowBdat: true, allowPipelining: true, allowBinarymime: true, chunkSize: 100 })), {
    kind: 'connectionLost',
    stage: 'MAIL',
    reason: 'the connection was closed',
  });
});

function outcomeOf(actions: readonly ClientAction[]): ClientOutcome | undefined {
  for (const a of actions) if (a.kind === 'outcome') return a.outcome;
  return undefined;
}

function sent(actions: readonly ClientAction[]): string {
  return Buffer.concat(actions.flatMap((a) => (a.kind === 'send' ? [a.bytes] : []))).toString('latin1');
}

test('a connection closed mid-content, while no reply is awaited, still ends the transaction', () => {
  const session = new ClientSession({ heloName: 'client.test', tls: 'none' });
  const outcomes: ClientOutcome[] = [];
  const take = (actions: readonly ClientAction[]): void => {
    for (const a of actions) if (a.kind === 'outcome') outcomes.push(a.outcome);
  };
  take(session.receive(Buffer.from(GREETING)));
  take(session.receive(Buffer.from('250-mx.example\r\n250 PIPELINING\r\n')));
  assert.equal(outcomes.shift()?.kind, 'ready');
  const m = message(BODY);
  take(session.send(m.message, { allowBdat: false, allowPipelining: true, allowBinarymime: false, chunkSize: 1024 }));
  take(session.receive(Buffer.from('250 OK\r\n250 OK\r\n354 go ahead\r\n')));
  take(session.body(Buffer.from('Subject: hi\r\n')));
  assert.equal(session.awaiting, undefined, 'mid-content nothing is awaited');
  take(session.connectionClosed('read ECONNRESET'));
  const outcome = outcomes[0];
  assert.ok(outcome?.kind === 'connectionLost' && outcome.stage === 'DATA', JSON.stringify(outcomes));
});
