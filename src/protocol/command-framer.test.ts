/** Command-line framing alone: CRLF only, bare LF refused whole, over-long lines dropped to their CRLF. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommandFramer, type FramedLine } from './command-framer.js';
import { bytes, cut } from './session-harness.test-support.js';

/** Every line the framer gives for `pieces`, reading one line per call as the session does. */
function frame(pieces: readonly Buffer[], limit = 512): FramedLine[] {
  const framer = new CommandFramer(limit);
  const lines: FramedLine[] = [];
  for (const p of pieces) {
    let pos = 0;
    while (pos < p.length) {
      const step = framer.feed(p, pos);
      assert.ok(step.next > pos, 'always makes progress');
      if (step.line !== undefined) lines.push(step.line);
      pos = step.next;
    }
  }
  return lines;
}

test('lines end at CRLF only; a bare LF refuses its line; a line over the limit is dropped up to its CRLF, at every cut', () => {
  const input = bytes(`NOOP\r\nMAIL FROM:<a@b>\nRCPT TO:<c@d>\r\n${'x'.repeat(40)}\nQUIT\r\nRSET\r\n\r\n`);
  const expected: FramedLine[] = [
    { kind: 'line', text: 'NOOP', length: 6 },
    { kind: 'bare-lf' },
    { kind: 'too-long' },
    { kind: 'line', text: 'RSET', length: 6 },
    { kind: 'line', text: '', length: 2 },
  ];
  assert.deepEqual(frame([input], 40), expected);
  for (let i = 1; i < input.length; i++) assert.deepEqual(frame(cut(input, [i]), 40), expected, `cut at ${i}`);
  assert.deepEqual(
    frame(
      [...input].map((x) => Buffer.from([x])),
      40,
    ),
    expected,
    'single bytes',
  );
});

test('the limit counts the CRLF: a line of exactly the limit passes, one more octet does not', () => {
  assert.deepEqual(frame([bytes(`${'a'.repeat(10)}\r\n`)], 12), [{ kind: 'line', text: 'a'.repeat(10), length: 12 }]);
  assert.deepEqual(frame([bytes(`${'a'.repeat(11)}\r\nNOOP\r\n`)], 12), [{ kind: 'too-long' }, { kind: 'line', text: 'NOOP', length: 6 }]);
});

test('a CR at the end of one read and the LF at the start of the next make one CRLF', () => {
  assert.deepEqual(frame([bytes('NOOP\r'), bytes('\nQUIT\r\n')]), [
    { kind: 'line', text: 'NOOP', length: 6 },
    { kind: 'line', text: 'QUIT', length: 6 },
  ]);
  assert.deepEqual(frame([bytes('NOOP'), bytes('\nQUIT\r\n')]), [{ kind: 'bare-lf' }]);
});
