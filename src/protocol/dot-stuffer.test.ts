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

test('bare CR and bare LF go out as CRLF, also when a CR ends one chunk (smuggling defence)', () => {
  const m = Buffer.from('a\nb\rc\r\n.\n.\r\rd\r');
  const want = 'a\r\nb\r\nc\r\n..\r\n..\r\n\r\nd\r\n.\r\n';
  for (let i = 0; i <= m.length; i++) assert.equal(stuffed(m, [i]).toString(), want, `cut at ${i}`);
  assert.equal(
    stuffed(
      m,
      Array.from({ length: m.length }, (_, i) => i),
    ).toString(),
    want,
    'one byte at a time',
  );
  assert.equal(stuffed(Buffer.from('x\r'), [1]).toString(), 'x\r\n.\r\n');
  assert.equal(stuffed(Buffer.from('\r\n'), [1]).toString(), '\r\n.\r\n');
});

test('property: any bytes come out as CRLF-only lines the server reads back, bare line ends made CRLF', () => {
  const piece = fc.constantFrom('a', '.', '\r', '\n', '\r\n', 'xyz', '\0', '\u00e9');
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 40 }), fc.array(fc.nat(), { maxLength: 5 }), (pieces, rawCuts) => {
      const message = Buffer.from(pieces.join(''), 'latin1');
      const cuts = [...new Set(rawCuts.map((c) => (message.length === 0 ? 0 : c % message.length)))].sort((a, b) => a - b);
      const wire = stuffed(message, cuts);
      // Every CR is followed by LF and every LF preceded by CR.
      assert.doesNotMatch(wire.toString('latin1'), /\r(?!\n)|(?<!\r)\n/);
      const fed = new DataReader({ normaliseBareLineEndings: false }).feed(wire, 0);
      assert.ok(fed.done);
      assert.equal(fed.consumed, wire.length);
      const expected = message.toString('latin1').replace(/\r\n|\r|\n/g, '\r\n');
      const read = Buffer.concat(fed.body).toString('latin1');
      // The stuffer adds a CRLF before the final dot when the message did not end with one.
      assert.equal(read, expected.length === 0 || expected.endsWith('\r\n') ? expected : `${expected}\r\n`);
    }),
  );
});
