/** Property tests of the client session: whatever the peer sends, in whatever pieces, it neither throws nor hangs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { drive, EHLO_FULL, EHLO_PLAIN, GREETING, message } from './client-harness.test-support.js';

const replyLine = fc.oneof(
  fc.constantFrom(
    '220 hi',
    '250 OK',
    '250-PIPELINING',
    '250-CHUNKING',
    '250-STARTTLS',
    '250-AUTH PLAIN LOGIN',
    '354 go',
    '334 VXNlcg==',
    '235 ok',
    '221 bye',
    '421 4.3.2 bye',
    '452 4.3.1 full',
    '500 what',
    '502 5.5.1 no',
    '550 5.1.1 no',
  ),
  fc
    .tuple(fc.integer({ min: 200, max: 599 }), fc.constantFrom(' ', '-'), fc.string({ maxLength: 20 }))
    .map(([c, sep, t]) => `${c}${sep}${t.replace(/[\r\n]/g, '')}`),
  fc.string({ maxLength: 12 }),
);
const turnsArb = fc.array(
  fc.array(replyLine, { minLength: 1, maxLength: 4 }).map((lines) => `${lines.join('\r\n')}\r\n`),
  { maxLength: 14 },
);

test('property: no reply sequence makes the session throw or hang; it always ends closed', () => {
  const m = message('z'.repeat(50));
  fc.assert(
    fc.property(
      turnsArb,
      fc.oneof(fc.constant<'whole'>('whole'), fc.constant<'bytes'>('bytes'), fc.nat({ max: 400 })),
      // Half the runs start with a good greeting and EHLO, so the random replies land in transactions.
      fc.constantFrom([], [GREETING, EHLO_FULL], [GREETING, EHLO_PLAIN]),
      fc.record({
        tls: fc.constantFrom('none', 'opportunistic', 'required') as fc.Arbitrary<'none' | 'opportunistic' | 'required'>,
        auth: fc.boolean(),
        pipelining: fc.boolean(),
        check: fc.boolean(),
        fails: fc.boolean(),
        closeAtEnd: fc.boolean(),
      }),
      (turns, split, prefix, k) => {
        const d = drive([...prefix, ...turns], {
          split,
          closeAtEnd: k.closeAtEnd,
          messages: [m.message, m.message],
          bodies: [m.body, m.body],
          session: { tls: k.tls, ...(k.auth ? { auth: { username: 'u', password: 'p' } } : {}) },
          transaction: { allowPipelining: k.pipelining, chunkSize: 16, ...(k.check ? { bdatCheckBytes: 8 } : {}) },
          ...(k.fails ? { tlsFails: 'bad handshake' } : {}),
        });
        assert.equal(d.closed, true);
        assert.ok(d.steps < 1000, `steps ${d.steps}`);
        // ready, one outcome per message, and perhaps a failure while quitting.
        assert.ok(d.outcomes.length <= 4, JSON.stringify(d.outcomes));
        if (prefix.length > 0 && k.tls !== 'required' && !k.auth) assert.equal(d.outcomes[0]?.kind, 'ready');
      },
    ),
    { numRuns: 1500 },
  );
});
