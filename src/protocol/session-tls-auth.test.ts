/**
 * STARTTLS (RFC 3207) and AUTH (RFC 4954) in the sans-I/O session: what is offered when, the
 * gatekeeper's 530s, bytes pipelined after STARTTLS dropped at every split, and the SASL exchanges.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServerSession, type SessionAction } from './server-session.js';
import { options, type Options } from './session-harness.test-support.js';
import { Reply } from './replies.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** Drives a session; `auth` decides credentials (alice/secret is the only valid pair). */
function drive(o: Options) {
  const session = new ServerSession(options(o));
  let text = '';
  const kinds: string[] = [];
  const perform = (actions: readonly SessionAction[]): void => {
    for (const a of actions) {
      kinds.push(a.kind);
      if (a.kind === 'send') text += a.text;
      if (a.kind === 'auth') {
        const ok = a.user === 'alice' && a.password === 'secret';
        perform(session.authenticated(ok ? { user: 'alice' } : { refuse: Reply.authFailed() }, a.mechanism));
      }
      if (a.kind === 'commit') perform(session.committed({ id: 'Q1' }));
    }
  };
  perform(session.greet());
  return {
    session,
    kinds,
    feed(s: string): string {
      const before = text.length;
      perform(session.receive(Buffer.from(s, 'latin1')));
      return text.slice(before);
    },
    startTls(): void {
      perform(session.tlsStarted());
    },
  };
}

test('STARTTLS is advertised only before TLS, and AUTH only after it (unless cleartext is allowed)', () => {
  const d = drive({ tls: 'optional', auth: 'optional' });
  const before = d.feed('EHLO c\r\n');
  assert.match(before, /250[- ]STARTTLS\r\n/);
  assert.doesNotMatch(before, /AUTH/);
  assert.match(d.feed('AUTH PLAIN\r\n'), /^538 5\.7\.11 /);
  assert.match(d.feed('STARTTLS\r\n'), /^220 2\.0\.0 /);
  d.startTls();
  const after = d.feed('EHLO c\r\n');
  assert.doesNotMatch(after, /STARTTLS/);
  assert.match(after, /250 AUTH PLAIN LOGIN\r\n$/);
  assert.match(d.feed('STARTTLS\r\n'), /^503 5\.5\.1 /);

  const clear = drive({ tls: 'off', auth: 'optional', authCleartext: true });
  assert.match(clear.feed('EHLO c\r\n'), /250 AUTH PLAIN LOGIN\r\n$/);
  assert.doesNotMatch(drive({ tls: 'off' }).feed('EHLO c\r\nSTARTTLS\r\n'), /STARTTLS\r\n|^220/);
});

test('commands pipelined after STARTTLS in the same read are dropped, at every split point', () => {
  const input = 'EHLO c\r\nSTARTTLS\r\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<a@mx.test>\r\n';
  for (let cut = 0; cut <= input.length; cut++) {
    const d = drive({ tls: 'optional' });
    const first = d.feed(input.slice(0, cut));
    const second = d.feed(input.slice(cut));
    const text = first + second;
    assert.match(text, /220 2\.0\.0 Ready to start TLS\r\n$/, `cut ${cut}`);
    assert.equal(d.kinds.filter((k) => k === 'starttls').length, 1);
    d.startTls();
    // The injected MAIL was never obeyed: the fresh session wants EHLO first.
    assert.match(d.feed('MAIL FROM:<a@b.test>\r\n'), /^503 5\.5\.1 /, `cut ${cut}`);
  }
});

test('STARTTLS resets the session: HELO name, transaction and AUTH are forgotten', () => {
  const d = drive({ tls: 'optional', auth: 'optional', authCleartext: true });
  d.feed('EHLO c\r\n');
  assert.match(d.feed(`AUTH PLAIN ${b64('\0alice\0secret')}\r\n`), /^235 2\.7\.0 /);
  assert.equal(d.session.user, 'alice');
  d.feed('MAIL FROM:<a@b.test>\r\nSTARTTLS\r\n');
  d.startTls();
  assert.equal(d.session.user, undefined);
  assert.equal(d.session.helo, '');
});

test('require TLS: MAIL, AUTH, VRFY and ETRN get 530 5.7.0 until STARTTLS', () => {
  const d = drive({ tls: 'required', auth: 'optional' });
  d.feed('EHLO c\r\n');
  for (const cmd of ['MAIL FROM:<a@b.test>', 'AUTH PLAIN', 'VRFY bob', 'ETRN x.test']) {
    assert.match(d.feed(`${cmd}\r\n`), /^530 5\.7\.0 Must issue a STARTTLS/, cmd);
  }
  assert.match(d.feed('NOOP\r\n'), /^250 /);
  d.feed('STARTTLS\r\n');
  d.startTls();
  d.feed('EHLO c\r\n');
  assert.match(d.feed('MAIL FROM:<a@b.test>\r\n'), /^250 /);
});

test('require AUTH: MAIL gets 530 5.7.0 until AUTH succeeds', () => {
  const d = drive({ tls: 'implicit', auth: 'required' });
  d.feed('EHLO c\r\n');
  assert.match(d.feed('MAIL FROM:<a@b.test>\r\n'), /^530 5\.7\.0 Authentication required/);
  assert.match(d.feed(`AUTH PLAIN ${b64('\0alice\0wrong')}\r\n`), /^535 5\.7\.8 /);
  assert.match(d.feed('MAIL FROM:<a@b.test>\r\n'), /^530 /);
  assert.match(d.feed(`AUTH PLAIN ${b64('\0alice\0secret')}\r\n`), /^235 2\.7\.0 /);
  assert.match(d.feed('MAIL FROM:<a@b.test>\r\n'), /^250 /);
  assert.match(d.feed('RSET\r\nAUTH PLAIN\r\n'), /503 5\.5\.1 .*already authenticated/);
});

test('AUTH PLAIN with a 334 challenge, AUTH LOGIN in three steps, cancel, bad base64, unknown mechanism', () => {
  const d = drive({ tls: 'implicit', auth: 'optional' });
  d.feed('EHLO c\r\n');
  assert.equal(d.feed('AUTH PLAIN\r\n'), '334 \r\n');
  assert.match(d.feed('*\r\n'), /^501 5\.0\.0 /);
  assert.equal(d.feed('AUTH LOGIN\r\n'), `334 ${b64('Username:')}\r\n`);
  assert.match(d.feed('not base64!\r\n'), /^501 5\.5\.2 /);
  assert.match(d.feed('AUTH CRAM-MD5\r\n'), /^504 5\.5\.4 /);
  assert.equal(d.feed(`AUTH LOGIN ${b64('alice')}\r\n`), `334 ${b64('Password:')}\r\n`);
  assert.match(d.feed(`${b64('secret')}\r\n`), /^235 2\.7\.0 /);
});

test('AUTH lines pipelined after the credentials wait for the verdict, in order', () => {
  const d = drive({ tls: 'implicit', auth: 'required' });
  const text = d.feed(`EHLO c\r\nAUTH PLAIN ${b64('\0alice\0secret')}\r\nMAIL FROM:<alice@b.test>\r\nQUIT\r\n`);
  assert.match(text, /235 2\.7\.0 [^\r]*\r\n250 2\.1\.0 [^\r]*\r\n221 /);
});

test('replies report only the AUTH mechanism, never the initial response', () => {
  const session = new ServerSession(options({ tls: 'implicit', auth: 'optional' }));
  const answered: unknown[] = [];
  const sent: string[] = [];
  const perform = (actions: readonly SessionAction[]): void => {
    for (const a of actions) {
      if (a.kind === 'send') sent.push(JSON.stringify(a));
      if (a.kind === 'send' && a.answered !== undefined) answered.push(a.answered);
      if (a.kind === 'auth') perform(session.authenticated({ refuse: Reply.authFailed() }, a.mechanism));
    }
  };
  const initial = b64('\0alice\0secret');
  perform(session.receive(Buffer.from(`EHLO c\r\nAUTH PLAIN ${initial}\r\n`)));
  assert.deepEqual(answered, [
    { kind: 'command', verb: 'EHLO', args: 'c' },
    { kind: 'auth', mechanism: 'PLAIN' },
  ]);
  assert.ok(!sent.some((s) => s.includes(initial)));
});

test('a submission listener refuses a MAIL FROM the user does not own (553 5.7.1)', () => {
  const d = drive({ tls: 'implicit', auth: 'required', checkSender: (user, address) => address === `${user}@b.test` });
  d.feed(`EHLO c\r\nAUTH PLAIN ${b64('\0alice\0secret')}\r\n`);
  assert.match(d.feed('MAIL FROM:<bob@b.test>\r\n'), /^553 5\.7\.1 /);
  assert.match(d.feed('MAIL FROM:<alice@b.test> AUTH=<>\r\n'), /^250 /);
});

test('the recipient check learns whether the session is authenticated', () => {
  const d = drive({
    tls: 'implicit',
    auth: 'optional',
    checkRecipient: (_address, user) => (user === undefined ? { refuse: Reply.relayDenied() } : { accept: 'relay' }),
  });
  d.feed('EHLO c\r\nMAIL FROM:<a@b.test>\r\n');
  assert.match(d.feed('RCPT TO:<x@far.test>\r\n'), /^554 5\.7\.1 /);
  d.feed(`RSET\r\nAUTH PLAIN ${b64('\0alice\0secret')}\r\nMAIL FROM:<a@b.test>\r\n`);
  assert.match(d.feed('RCPT TO:<x@far.test>\r\n'), /^250 /);
});
