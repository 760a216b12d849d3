/** DATA transparency for the client (RFC 5321 4.5.2), checked against the server's own reader. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DotStuffer } from './dot-stuffer.js';
import { DataReader } from './data-reader.js';

function stuffed(message: Buffer, cuts: readonly number[]): Buffer {
  const s = new DotStuffer();
  const out: Buffer[] = [];
  let from = 0;
  for (const cut of [...cuts, message.length]) {
    out.push(s.stuff(message.subarray(from, cut)));
    from = cut;
  }
  out.push(s.end());
  return Buffer.concat(out);
}

test('leading dots are doubled across chunk boundaries; the end is CRLF.CRLF', () => {
  const m = Buffer.from('.a\r\nb\r\n.\r\n..c\r\n');
  assert.equal(stuffed(m, []).toString(), '..a\r\nb\r\n..\r\n...c\r\n.\r\n');
  assert.equal(stuffed(m, [3, 4, 7, 8]).toString(), '..a\r\nb\r\n..\r\n...c\r\n.\r\n');
  assert.equal(stuffed(Buffer.from('no final newline'), []).toString(), 'no final newline\r\n.\r\n');
  assert.equal(stuffed(Buffer.alloc(0), []).toString(), '.\r\n');
});

test('property: what the stuffer sends, the server reads back byte-exact (CRLF text)', () => {
  const line = fc.stringMatching(/^[.a-z ]{0,20}$/);
  fc.assert(
    fc.property(fc.array(line, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 5 }), (lines, rawCuts) => {
      const message = Buffer.from(lines.map((l) => `${l}\r\n`).join(''));
      const cuts = [...new Set(rawCuts.map((c) => (message.length === 0 ? 0 : c % message.length)))].sort((a, b) => a - b);
      const reader = new DataReader({ normaliseBareLineEndings: false });
      const wire = stuffed(message, cuts);
      const fed = reader.feed(wire, 0);
      assert.ok(fed.done);
      assert.equal(fed.consumed, wire.length);
      assert.ok(Buffer.concat(fed.body).equals(message));
    }),
  );
});
