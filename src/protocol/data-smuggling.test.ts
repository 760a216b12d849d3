/**
 * DATA end-of-data detection and SMTP smuggling (RFC 5321 4.1.1.4, 4.5.2, 2.3.8): only CR LF "." CR LF
 * ends a message; every look-alike with a bare CR or LF is content, and the message is refused
 * 550 5.6.0 after the real end (or normalised to CR LF when configured). Dot-unstuffing and the
 * 1000-octet line limit (4.5.3.1.6), all invariant under splitting.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DataReader, type DataViolation } from './data-reader.js';
import { bytes, cut, everySplit, OPEN } from './session-harness.test-support.js';

interface Read {
  readonly body: string;
  readonly consumed: number;
  readonly done: boolean;
  readonly violation: DataViolation | undefined;
}

/**
 * Feeds `pieces` to one reader until it reports the end. Once a violation is seen the message will be
 * refused and what was produced before it depends on the cuts, so the body is then reported as "".
 */
function read(pieces: readonly Buffer[], normalise = false): Read {
  const reader = new DataReader({ normaliseBareLineEndings: normalise });
  const body: Buffer[] = [];
  let consumed = 0;
  let done = false;
  for (const piece of pieces) {
    const fed = reader.feed(piece, 0);
    body.push(...fed.body);
    consumed += fed.consumed;
    done = fed.done;
    if (done) break;
  }
  const text = reader.violation === undefined ? Buffer.concat(body).toString('latin1') : '';
  return { body: text, consumed, done, violation: reader.violation };
}

/** Whole, cut at every offset, and byte by byte: all must give `expected`. */
function readEverySplit(input: Buffer, expected: Read, normalise = false): void {
  assert.deepEqual(read([input], normalise), expected, 'whole');
  for (let i = 1; i < input.length; i++)
    assert.deepEqual(read([input.subarray(0, i), input.subarray(i)], normalise), expected, `cut at ${i}`);
  assert.deepEqual(
    read(
      [...input].map((x) => Buffer.from([x])),
      normalise,
    ),
    expected,
    'byte by byte',
  );
}

const ENDINGS = ['\r\n', '\n', '\r'] as const;
/** Every "<line end> . <line end>" that is not CR LF . CR LF, plus a few longer tricks. */
const FAKES = [
  ...ENDINGS.flatMap((before) => ENDINGS.map((after) => `${before}.${after}`)).filter((f) => f !== '\r\n.\r\n'),
  '\r\n.\r\r\n',
  '\r\n.\n\r\n',
  '\n\r.\r\n',
  '\r\n. \r\n',
  '\r\n.\0\r\n',
];
const SMUGGLED = 'MAIL FROM:<evil@x.test>\r\nRCPT TO:<x@mx.test>\r\nDATA\r\nforged\r\n';

test('the fake terminator list covers the classic smuggling sequences', () => {
  for (const f of ['\n.\n', '\r.\r', '\n.\r\n', '\r\n.\n', '\r\n.\r', '\r.\r\n']) assert.ok(FAKES.includes(f), JSON.stringify(f));
});

for (const fake of FAKES) {
  const input = bytes(`hello${fake}${SMUGGLED}\r\n.\r\nNEXT`);
  const realEnd = input.length - 'NEXT'.length;
  const bare = /\r(?!\n)|(?<!\r)\n/.test(fake);

  test(`reader: ${JSON.stringify(fake)} is content; only the real CR LF . CR LF ends, at every split`, () => {
    const whole = read([input]);
    assert.equal(whole.done, true);
    assert.equal(whole.consumed, realEnd);
    assert.equal(whole.violation, bare ? 'bare-line-ending' : undefined);
    readEverySplit(input, whole);
  });

  test(`session: ${JSON.stringify(fake)} never ends DATA; ${bare ? '550 5.6.0 after the real end, nothing committed' : 'committed as content'}`, () => {
    const session = bytes(`${OPEN}DATA\r\nhello${fake}${SMUGGLED}\r\n.\r\nNOOP\r\n`);
    everySplit(session, (r, label) => {
      assert.deepEqual(r.replies.slice(4), ['354', bare ? '550 5.6.0' : '250 2.0.0', '250 2.0.0'], label);
      assert.equal(r.messages.length, bare ? 0 : 1, label);
      assert.deepEqual(r.discards, bare ? ['bare-line-ending'] : [], label);
    });
  });

  test(`normalised: ${JSON.stringify(fake)} becomes CR LF line ends, never an end of data`, () => {
    const r = read([input], true);
    assert.equal(r.done, true);
    assert.equal(r.consumed, realEnd);
    assert.equal(r.violation, undefined);
    assert.doesNotMatch(r.body, /\r(?!\n)|(?<!\r)\n/, 'no bare CR or LF is stored');
    assert.ok(r.body.startsWith('hello\r\n') && r.body.endsWith(`${SMUGGLED}\r\n`), JSON.stringify(r.body));
    readEverySplit(input, r, true);
  });
}

test('normalisation keeps the dot of a "." line that follows a bare line end (it was never a terminator)', () => {
  assert.equal(read([bytes('a\n.\r\nb\r\n.\r\n')], true).body, 'a\r\n.\r\nb\r\n');
  assert.equal(read([bytes('a\r.\rb\r\n.\r\n')], true).body, 'a\r\n.\r\nb\r\n');
  assert.equal(read([bytes('a\r\n..\nb\r\n.\r\n')], true).body, 'a\r\n.\r\nb\r\n');
});

test('dot-unstuffing: one leading dot is removed from each line; a dot elsewhere is kept', () => {
  readEverySplit(bytes('x\r\n..\r\n...x\r\na.b\r\n .\r\n.\r\n'), {
    body: 'x\r\n.\r\n..x\r\na.b\r\n .\r\n',
    consumed: 25,
    done: true,
    violation: undefined,
  });
  readEverySplit(bytes('.\r\n'), { body: '', consumed: 3, done: true, violation: undefined });
});

test('property: dot-stuffed lines read back exactly, at any cuts, and bytes after the end are left unread', () => {
  const line = fc.array(fc.constantFrom('a', '.', ' ', 'Z', '\0', '\x7f', '\xff'), { maxLength: 12 }).map((a) => a.join(''));
  fc.assert(
    fc.property(fc.array(line, { maxLength: 20 }), fc.array(fc.nat({ max: 400 })), (lines, offsets) => {
      const wire = bytes(
        `${lines.map((l) => (l.startsWith('.') ? `.${l}` : l)).join('\r\n')}${lines.length > 0 ? '\r\n' : ''}.\r\nQUIT\r\n`,
      );
      const r = read(cut(wire, offsets));
      assert.equal(r.body, lines.map((l) => `${l}\r\n`).join(''));
      assert.equal(r.consumed, wire.length - 'QUIT\r\n'.length);
      assert.equal(r.violation, undefined);
    }),
    { numRuns: 300 },
  );
});

test('property: any bytes, any cuts, either mode: the same result as whole; bare CR/LF always flagged or normalised', () => {
  const octets = fc.array(fc.constantFrom(0x0d, 0x0a, 0x2e, 0x61, 0x00), { maxLength: 120 }).map((a) => Buffer.from(a));
  fc.assert(
    fc.property(octets, fc.array(fc.nat({ max: 130 })), fc.boolean(), (content, offsets, normalise) => {
      const input = Buffer.concat([content, bytes('\r\n.\r\n')]);
      const whole = read([input], normalise);
      assert.deepEqual(read(cut(input, offsets), normalise), whole);
      assert.equal(whole.done, true);
      const taken = input.subarray(0, whole.consumed).toString('latin1');
      assert.ok(taken.endsWith('\r\n.\r\n') || taken === '.\r\n', JSON.stringify(taken));
      const hasBare = /\r(?!\n)|(?<!\r)\n/.test(taken);
      if (normalise) {
        assert.equal(whole.violation, undefined);
        assert.doesNotMatch(whole.body, /\r(?!\n)|(?<!\r)\n/);
      } else {
        assert.equal(whole.violation, hasBare ? 'bare-line-ending' : undefined);
      }
    }),
    { numRuns: 500 },
  );
});

/**
 * A plain model of the reader: the end is the first CR LF "." CR LF (the start counts as after a CR LF);
 * the lines before it, each with its ending, are checked in order (too long before bare); a "." is
 * unstuffed only at the start of a line that followed a real CR LF.
 */
function model(wire: string, normalise: boolean): Read {
  const at = `\r\n${wire}`.indexOf('\r\n.\r\n');
  assert.ok(at >= 0, 'the inputs always hold an end');
  const lines = wire.slice(0, at + 3).match(/[^\r\n]*(\r\n|\r|\n)/g) ?? [];
  let violation: DataViolation | undefined;
  for (const line of lines) {
    if (line.length > 1000) violation ??= 'line-too-long';
    else if (!normalise && !line.endsWith('\r\n')) violation ??= 'bare-line-ending';
  }
  let body = '';
  let lineStart = true;
  for (const line of lines.slice(0, -1)) {
    const text = lineStart && line.startsWith('.') ? line.slice(1) : line;
    lineStart = line.endsWith('\r\n');
    body += lineStart ? text : `${text.slice(0, -1)}\r\n`;
  }
  return { body: violation === undefined ? body : '', consumed: at + 3, done: true, violation };
}

test('property: the reader agrees with a plain model over random content (long lines, dots, bare CR/LF) and random cuts', () => {
  const piece = fc.oneof(
    fc.constantFrom('\r\n', '\r', '\n', '.', 'a', '\0', '\r\n.', '\r\n..', '\r\n.\r', '\n.\r\n', '\r.\r\n', '\xff'),
    fc.integer({ min: 990, max: 1003 }).map((n) => 'x'.repeat(n)),
  );
  fc.assert(
    fc.property(
      fc.array(piece, { maxLength: 30 }),
      fc.array(fc.nat({ max: 4000 }), { maxLength: 12 }),
      fc.boolean(),
      (pieces, offsets, normalise) => {
        const wire = `${pieces.join('')}\r\n.\r\nNEXT\r\n`;
        assert.deepEqual(read(cut(bytes(wire), offsets), normalise), model(wire, normalise));
      },
    ),
    { numRuns: 1000 },
  );
});

test('a line both too long and ending bare is too long whether or not the input is cut inside it', () => {
  const input = bytes(`${'x'.repeat(1200)}\nok\r\n.\r\n`);
  readEverySplit(input, { body: '', consumed: input.length, done: true, violation: 'line-too-long' });
});

test('a text line of 1000 octets with CR LF is accepted; 1001 is a violation (RFC 5321 4.5.3.1.6)', () => {
  assert.equal(read([bytes(`${'y'.repeat(998)}\r\n.\r\n`)]).violation, undefined);
  const long = bytes(`${'y'.repeat(999)}\r\nafter\r\n.\r\nNEXT`);
  readEverySplit(long, { body: '', consumed: long.length - 4, done: true, violation: 'line-too-long' });
  // A stuffed dot counts: it is on the wire.
  assert.equal(read([bytes(`.${'y'.repeat(998)}\r\n.\r\n`)]).violation, 'line-too-long');
});

test('session: a 1001-octet line is refused 550 5.6.0 after the end and nothing is committed', () => {
  everySplit(bytes(`${OPEN}DATA\r\nok\r\n${'y'.repeat(999)}\r\n.\r\nNOOP\r\n`), (r, label) => {
    assert.deepEqual(r.replies.slice(4), ['354', '550 5.6.0', '250 2.0.0'], label);
    assert.deepEqual(r.discards, ['line-too-long'], label);
    assert.equal(r.messages.length, 0, label);
  });
});

test('normalised: a bare CR ends a line for the length limit wherever the input is cut', () => {
  // 600 + CR + 600 + CR LF: two stored lines of 602 octets each, accepted whole or cut after the CR.
  const input = bytes(`${'a'.repeat(600)}\r${'b'.repeat(600)}\r\n.\r\n`);
  const expected = { body: `${'a'.repeat(600)}\r\n${'b'.repeat(600)}\r\n`, consumed: input.length, done: true, violation: undefined };
  readEverySplit(input, expected, true);
  const dotCr = bytes(`.\r${'b'.repeat(997)}\r\n.\r\n`);
  readEverySplit(dotCr, { body: `\r\n${'b'.repeat(997)}\r\n`, consumed: dotCr.length, done: true, violation: undefined }, true);
});

test('the reader honours its start offset and leaves the rest of the buffer', () => {
  const reader = new DataReader({ normaliseBareLineEndings: false });
  const buf = bytes('DATA\r\nx\r\n.\r\nQUIT\r\n');
  const fed = reader.feed(buf, 6);
  assert.equal(fed.done, true);
  assert.equal(fed.consumed, 6);
  assert.equal(Buffer.concat(fed.body).toString(), 'x\r\n');
});
