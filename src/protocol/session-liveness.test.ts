/**
 * Property: no input makes the server session throw or stop answering. Whatever bytes came before
 * (commands, broken lines, SASL exchanges, STARTTLS, DATA or BDAT bodies, random octets), every reply
 * is well-formed, nothing follows `close`, and a fixed way out (end the line, end a body, QUIT) always
 * ends the session with 221 or 421.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ServerSession, type SessionAction } from './server-session.js';
import { bytes, options, type Options } from './session-harness.test-support.js';
import { Reply } from './replies.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

// Whole command lines only carry a BDAT size, and at most 40: the way out below covers any chunk left.
const FRAGMENTS = [
  'EHLO c\r\n',
  'HELO c\r\n',
  'EHLO\r\n',
  'MAIL FROM:<a@c.test>\r\n',
  'MAIL FROM:<a@c.test> BODY=BINARYMIME\r\n',
  'MAIL FROM:<> REQUIRETLS\r\n',
  'RCPT TO:<x@mx.test>\r\n',
  'RCPT TO:<z@else.test>\r\n',
  'RCPT TO:<postmaster>\r\n',
  'DATA\r\n',
  '.\r\n',
  '\r\n.\r\n',
  '..\r\n',
  'BDAT 5\r\n',
  'BDAT 40 LAST\r\n',
  'BDAT 0 LAST\r\n',
  'BDAT\r\n',
  'RSET\r\n',
  'RSET x\r\n',
  'NOOP\r\n',
  'VRFY x\r\n',
  'EXPN x\r\n',
  'ETRN x.test\r\n',
  'HELP\r\n',
  'STARTTLS\r\n',
  'AUTH PLAIN\r\n',
  'AUTH LOGIN\r\n',
  `AUTH PLAIN ${b64('\0alice\0secret')}\r\n`,
  `${b64('alice')}\r\n`,
  `${b64('secret')}\r\n`,
  '*\r\n',
  '=\r\n',
  'QUIT\r\n',
  '\r\n',
  '\n',
  '\r',
  '.',
  '\0',
  'Received: x\r\n',
  'x'.repeat(600),
  'MAIL FROM:<j\u00f6rg@c.test> SMTPUTF8\r\n',
];
const piece = fc.oneof(
  { arbitrary: fc.constantFrom(...FRAGMENTS).map(bytes), weight: 4 },
  { arbitrary: fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u)), weight: 1 },
);
/** Most conversations start with EHLO, so that the commands after it get somewhere. */
const input = fc
  .tuple(fc.boolean(), fc.array(piece, { maxLength: 24 }))
  .map(([ehlo, pieces]) => (ehlo ? [bytes('EHLO c\r\n'), ...pieces] : pieces));
const settings: fc.Arbitrary<Options> = fc.record({
  tls: fc.constantFrom('off' as const, 'optional' as const, 'required' as const, 'implicit' as const),
  auth: fc.constantFrom('off' as const, 'optional' as const, 'required' as const),
  authCleartext: fc.boolean(),
  maxErrors: fc.integer({ min: 1, max: 100 }),
  maxJunkCommands: fc.integer({ min: 1, max: 100 }),
  maxMessageSize: fc.integer({ min: 1, max: 200 }),
  maxRecipients: fc.integer({ min: 1, max: 3 }),
  maxHops: fc.integer({ min: 1, max: 3 }),
  normaliseBareLineEndings: fc.boolean(),
  expn: fc.boolean(),
});
/** Ends a partial line, covers any BDAT chunk still owed (at most 40 octets), ends a DATA body. */
const WAY_OUT = [bytes(`\r\n${'x'.repeat(64)}\r\n.\r\n`), bytes('QUIT\r\n')];

/** Performs actions as the shell would: commits and credentials answered at once, TLS "handshaken". */
function drive(o: Options) {
  const session = new ServerSession(options(o));
  const replies: Array<{ readonly code: number; readonly text: string }> = [];
  let closed = false;
  let commits = 0;
  const perform = (actions: readonly SessionAction[]): void => {
    let starttls = false;
    for (const a of actions) {
      assert.ok(!closed, `action ${a.kind} after close`);
      switch (a.kind) {
        case 'send':
          assert.match(a.text, /^(?:[2-5]\d\d-[^\r\n]*\r\n)*[2-5]\d\d [^\r\n]*\r\n$/, 'a well-formed reply');
          assert.equal(Number(a.text.slice(0, 3)), a.code);
          replies.push({ code: a.code, text: a.text });
          break;
        case 'commit':
          commits++;
          perform(session.committed(commits % 3 === 0 ? { refuse: Reply.storageFailed() } : { id: `Q${commits}` }));
          break;
        case 'auth': {
          const ok = a.user === 'alice' && a.password === 'secret';
          perform(session.authenticated(ok ? { user: 'alice' } : { refuse: Reply.authFailed() }, a.mechanism));
          break;
        }
        case 'starttls':
          starttls = true;
          break;
        case 'close':
          closed = true;
          break;
        default:
          break;
      }
    }
    if (starttls && !closed) perform(session.tlsStarted());
  };
  perform(session.greet());
  return {
    session,
    replies,
    feed: (input: Buffer): void => perform(session.receive(input)),
    get closed(): boolean {
      return closed;
    },
  };
}

test('property: after any input the session still answers, and the way out always ends it with 221 or 421', () => {
  fc.assert(
    fc.property(input, settings, (pieces, o) => {
      const d = drive(o);
      for (const p of pieces) d.feed(p);
      const before = d.replies.length;
      const closedBefore = d.closed;
      for (const p of WAY_OUT) d.feed(p);
      assert.ok(d.closed, 'the session ended');
      assert.equal(d.session.closed, true);
      if (!closedBefore) assert.ok(d.replies.length > before, 'the way out was answered');
      assert.ok([221, 421].includes(d.replies.at(-1)?.code ?? 0), `ended with ${d.replies.at(-1)?.text}`);
    }),
    { numRuns: 1500 },
  );
});

test('property: random octets one at a time never stop the session answering', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), (u) => {
      const d = drive({ maxErrors: 1000, maxJunkCommands: 1000 });
      for (const x of u) d.feed(Buffer.from([x]));
      for (const p of WAY_OUT) d.feed(p);
      assert.ok(d.closed);
      assert.equal(d.replies.at(-1)?.code, 221);
    }),
    { numRuns: 300 },
  );
});
