/** Received: fields counted in the header section only, whatever the chunking. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HopCounter } from './hop-count.js';

function count(message: string, cuts: readonly number[] = []): { count: number; done: boolean } {
  const bytes = Buffer.from(message, 'latin1');
  const c = new HopCounter();
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    c.feed(bytes.subarray(from, cut));
    from = cut;
  }
  return { count: c.count, done: c.done };
}

const received = (n: number): string =>
  Array.from({ length: n }, (_, i) => `Received: from h${i} by h${i + 1};\r\n\tTue, 1 Dec 2026 09:00:00 +0000\r\n`).join('');

test('counts Received: fields (any case, folded) and stops at the empty line', () => {
  const m = `${received(3)}RECEIVED : from x\r\nSubject: hi\r\nX-Received: not a hop\r\n\r\nReceived: in the body\r\n`;
  assert.deepEqual(count(m), { count: 4, done: true });
});

test('a field name split at every offset is still counted once', () => {
  const m = `${received(2)}Subject: x\r\n\r\nReceived: body\r\n`;
  for (let i = 0; i <= m.length; i++) assert.equal(count(m, [i]).count, 2, `cut at ${i}`);
  for (let i = 0; i < m.length; i++) assert.equal(count(m, [i, i + 1]).count, 2, `one-byte chunk at ${i}`);
});

test('a line that is not a header field ends the header section; bare LF ends lines too', () => {
  assert.deepEqual(count('Received: a\r\nno colon here\r\nReceived: b\r\n'), { count: 1, done: true });
  assert.deepEqual(count('Received: a\nReceived: b\n\nReceived: c\n'), { count: 2, done: true });
  assert.deepEqual(count('Received: a\r\n'), { count: 1, done: false });
  // A long field name without a colon in its first octets is still a header (never ends early).
  assert.deepEqual(count(`X-${'a'.repeat(100)}: v\r\nReceived: b\r\n\r\n`), { count: 1, done: true });
});

test('property: counting is independent of chunking', () => {
  const line = fc.constantFrom('Received: x\r\n', 'received:y\r\n', '\tfolded\r\n', 'Subject: s\r\n', 'Received: z\n', '\r\n', 'body\r\n');
  fc.assert(
    fc.property(fc.array(line, { maxLength: 30 }), fc.array(fc.nat(), { maxLength: 6 }), (lines, rawCuts) => {
      const m = lines.join('');
      const cuts = [...new Set(rawCuts.map((c) => (m.length === 0 ? 0 : c % m.length)))].sort((a, b) => a - b);
      assert.deepEqual(count(m, cuts), count(m));
    }),
  );
});
