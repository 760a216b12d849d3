/**
 * The streaming header filter: the same output however the bytes are split, views of the caller's
 * buffer on the common path, the DKIM signature cap's rule, and the empty line supplied where a
 * sender left it out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderFilter, type FieldRule } from './header-filter.js';
import { ownResultsFilter } from './forged-results.js';

function run(filter: HeaderFilter, pieces: readonly Buffer[]): string {
  const out: Buffer[] = [];
  for (const p of pieces) filter.push(p, (b) => out.push(Buffer.from(b)));
  filter.end((b) => out.push(Buffer.from(b)));
  return Buffer.concat(out).toString('latin1');
}

function split(bytes: Buffer, size: number): Buffer[] {
  const pieces: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) pieces.push(bytes.subarray(i, i + size));
  return pieces;
}

const capSignatures = (max: number): FieldRule => {
  let seen = 0;
  return { name: 'DKIM-Signature', keep: () => ++seen <= max };
};

test("a header with nothing to remove goes on as the caller's own buffer, in one piece", () => {
  const plain = ownResultsFilter('mx.example', 1024 * 1024);
  const views: Buffer[] = [];
  const noResults = Buffer.from('Received: from a\r\n\tby b\r\nSubject: x\r\n\r\nbody\r\n');
  plain.push(noResults, (b) => views.push(b));
  assert.equal(views.length, 1);
  assert.equal(views[0]?.buffer, noResults.buffer);
  assert.ok(plain.done);
});

test('the signature cap keeps the first signatures, folded lines and all, at any split', () => {
  const sig = (i: number): string =>
    `DKIM-Signature: v=1; a=rsa-sha256; d=d${i}.example; s=s;\r\n\tl=${1000 + i}; h=from; bh=AAAA;\r\n\tb=BBBB\r\n`;
  const head = `${Array.from({ length: 12 }, (_, i) => sig(i)).join('')}From: a@b.example\r\n`;
  const bytes = Buffer.from(`${head}\r\nbody DKIM-Signature: x\r\n`);
  const expected = `${Array.from({ length: 5 }, (_, i) => sig(i)).join('')}From: a@b.example\r\n\r\nbody DKIM-Signature: x\r\n`;
  for (const size of [1, 2, 7, 50, 333, bytes.length]) {
    const filter = new HeaderFilter({ rule: capSignatures(5), maxHeaderBytes: 1 << 20, afterNonField: 'separate' });
    assert.equal(run(filter, split(bytes, size)), expected, `pieces of ${size}`);
  }
});

test('"separate": a line that is no field ends the header section and gets the empty line before it', () => {
  const bytes = Buffer.from('From: a@b.example\r\nDKIM-Signature: x\r\nthis is body text\r\nDKIM-Signature: y\r\n');
  for (const size of [1, 3, bytes.length]) {
    const filter = new HeaderFilter({ rule: capSignatures(0), maxHeaderBytes: 1 << 20, afterNonField: 'separate' });
    assert.equal(
      run(filter, split(bytes, size)),
      'From: a@b.example\r\n\r\nthis is body text\r\nDKIM-Signature: y\r\n',
      `pieces of ${size}`,
    );
  }
  const binary = Buffer.from([0x00, 0xff, 0x3a, 0x0a, 0x41]);
  const filter = new HeaderFilter({ rule: capSignatures(0), maxHeaderBytes: 1 << 20, afterNonField: 'separate' });
  assert.equal(run(filter, [binary]), `\r\n${binary.toString('latin1')}`);
});

test('any split gives the output of one push (bare LF, bare CR, white space before the colon, long names, no empty line)', () => {
  const lines = [
    'Subject: s\r\n',
    'Authentication-Results: mx.example; x\r\n',
    'authentication-results\t : "MX.example."\r\n',
    ' folded\r\n',
    '\tmore\r\n',
    'Authentication-Results: other.example\n',
    'bare: lf\n',
    'cr\r: x\r\n',
    'no colon here\r\n',
    `${'n'.repeat(1200)}: long\r\n`,
    'Authentication-Results: (\r\n',
    ' x) mx.example;\r\n',
    '\r\n',
    '\n',
    'body line\r\n',
  ];
  let seed = 7;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let round = 0; round < 300; round++) {
    const text = Array.from({ length: 1 + random(14) }, () => lines[random(lines.length)] ?? '').join('');
    const bytes = Buffer.from(text, 'latin1');
    const whole = run(ownResultsFilter('mx.example', 1 << 20), [bytes]);
    const pieces: Buffer[] = [];
    for (let i = 0; i < bytes.length; ) {
      const n = 1 + random(9);
      pieces.push(bytes.subarray(i, i + n));
      i += n;
    }
    assert.equal(run(ownResultsFilter('mx.example', 1 << 20), pieces), whole, JSON.stringify(text));
    const rows = whole.split('\n');
    const blank = rows.findIndex((l) => l === '' || l === '\r');
    const header = rows.slice(0, blank < 0 ? rows.length : blank).join('\n');
    assert.ok(!/^authentication-results[ \t]*:[ \t]*"?mx\.example/im.test(header), JSON.stringify(whole));
  }
});
