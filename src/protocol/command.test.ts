/** The command-line parsers: paths and parameters (RFC 5321 4.1.2), xtext (RFC 3461 4), BDAT (RFC 3030 2). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodeXtext,
  domainOf,
  encodeXtext,
  localPartOf,
  parseBdatArgs,
  parseCommandLine,
  parseParams,
  parsePathArgument,
} from './command.js';

const ok = (
  args: string,
  keyword: 'FROM' | 'TO' = 'FROM',
): { address: string; params: Record<string, string | undefined>; utf8: boolean } => {
  const r = parsePathArgument(args, keyword);
  if (!('ok' in r)) throw new Error(`${args}: ${r.error}`);
  return { address: r.ok.address, params: Object.fromEntries(r.ok.params), utf8: r.ok.utf8 };
};
const enhanced = (args: string, keyword: 'FROM' | 'TO' = 'FROM'): string | undefined => {
  const r = parsePathArgument(args, keyword);
  return 'error' in r ? (r.enhanced ?? 'none') : undefined;
};

test('parseCommandLine upper-cases the verb and keeps the arguments as sent', () => {
  assert.deepEqual(parseCommandLine('mail FROM:<a@b.c>  X'), { verb: 'MAIL', args: 'FROM:<a@b.c>  X' });
  assert.deepEqual(parseCommandLine('QUIT'), { verb: 'QUIT', args: '' });
  assert.deepEqual(parseCommandLine(''), { verb: '', args: '' });
});

test('parsePathArgument: mailboxes, the null path, literals, quoting and lenient forms', () => {
  assert.deepEqual(ok('FROM:<a@b.example>'), { address: 'a@b.example', params: {}, utf8: false });
  assert.equal(ok('from:<a@b.example>').address, 'a@b.example');
  assert.equal(ok('FROM: <a@b.example>').address, 'a@b.example');
  assert.equal(ok('FROM:a@b.example SIZE=1').address, 'a@b.example');
  assert.equal(ok('FROM:<>').address, '');
  assert.equal(ok('TO:<user@[192.0.2.1]>', 'TO').address, 'user@[192.0.2.1]');
  assert.equal(ok('TO:<user@[IPv6:2001:db8::1]>', 'TO').address, 'user@[IPv6:2001:db8::1]');
  assert.equal(ok('TO:<"john doe"@b.example>', 'TO').address, '"john doe"@b.example');
  assert.equal(ok('TO:<"a>b"@b.example> NOTIFY=NEVER', 'TO').address, '"a>b"@b.example');
  assert.equal(ok('TO:<"a\\"b"@b.example>', 'TO').address, '"a\\"b"@b.example');
  assert.equal(ok("TO:<o'brien+tag@b.example.>", 'TO').address, "o'brien+tag@b.example.");
  assert.equal(ok('TO:<@one.example,@two.example:u@three.example>', 'TO').address, 'u@three.example');
  assert.equal(ok('TO:<Postmaster>', 'TO').address, 'Postmaster');
  assert.deepEqual(ok('FROM:<j\u00f6rg@b\u00fccher.example>'), { address: 'j\u00f6rg@b\u00fccher.example', params: {}, utf8: true });
});

test('parsePathArgument: errors carry 5.5.2 (syntax), 5.1.7 (sender), 5.1.3 (recipient) or 5.5.4 (parameter)', () => {
  assert.equal(enhanced('TO:<a@b.example>'), '5.5.2');
  assert.equal(enhanced('FROM <a@b.example>'), '5.5.2');
  assert.equal(enhanced('FROM:<a@b.example'), '5.5.2');
  assert.equal(enhanced('FROM:<a@b.example>SIZE=1'), '5.5.2');
  for (const bad of [
    'a',
    'a@',
    '@b.example',
    'a b@c.example',
    'a..b@c.example',
    '.a@c.example',
    'a@-c.example',
    'a@c..example',
    'postmaster',
  ]) {
    assert.equal(enhanced(`FROM:<${bad}>`), '5.1.7', bad);
    if (bad !== 'postmaster') assert.equal(enhanced(`TO:<${bad}>`, 'TO'), '5.1.3', bad);
  }
  assert.equal(enhanced('TO:<>', 'TO'), '5.1.3');
  assert.equal(enhanced(`FROM:<${'a'.repeat(250)}@b.example>`), '5.1.7');
  assert.equal(enhanced(`TO:<${'a'.repeat(250)}@b.example>`, 'TO'), '5.1.3');
  assert.equal(enhanced('FROM:<a@b.example> SIZE=1 SIZE=2'), '5.5.4');
  assert.equal(enhanced('FROM:<a@b.example> =x'), '5.5.4');
});

test('parseParams: keywords upper-cased, values kept, valueless keywords, duplicates and bad syntax refused', () => {
  const p = parseParams('size=10 Body=8BITMIME  SMTPUTF8 X-Y=');
  assert.ok('ok' in p);
  assert.deepEqual(
    [...p.ok],
    [
      ['SIZE', '10'],
      ['BODY', '8BITMIME'],
      ['SMTPUTF8', undefined],
      ['X-Y', ''],
    ],
  );
  assert.deepEqual(parseParams(''), { ok: new Map() });
  for (const bad of ['A=1 a=2', '-X=1', 'A=b=c', 'A=\x01', 'A_B=1', '=1']) assert.ok('error' in parseParams(bad), bad);
});

test('xtext: known encodings and malformed input', () => {
  assert.equal(encodeXtext('a+b=c d'), 'a+2Bb+3Dc+20d');
  assert.equal(encodeXtext('\u00e9'), '+C3+A9');
  assert.equal(decodeXtext('QQ+2B1'), 'QQ+1');
  assert.equal(decodeXtext('j+C3+B6rg'), 'j\u00f6rg');
  assert.equal(decodeXtext(''), '');
  for (const bad of ['+', '+2', '+2b', '+G0', 'a=b', 'a b', '\u00e9', 'a\x7f'])
    assert.equal(decodeXtext(bad), undefined, JSON.stringify(bad));
});

test('property: xtext round-trips any string and encodes to valid xtext', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => {
      const x = encodeXtext(s);
      assert.match(x, /^(?:[\x21-\x2A\x2C-\x3C\x3E-\x7E]|\+[0-9A-F]{2})*$/);
      assert.equal(decodeXtext(x), s);
    }),
    { numRuns: 1000 },
  );
});

test('property: decoding valid xtext and encoding again is canonical (decode is stable)', () => {
  const xchar = fc.constantFrom(...'!"#$%&*,-./09:;<>?@AZ[\\]^_`az{|}~');
  const hex = fc.integer({ min: 0, max: 0x7f }).map((n) => `+${n.toString(16).toUpperCase().padStart(2, '0')}`);
  fc.assert(
    fc.property(fc.array(fc.oneof(xchar, hex), { maxLength: 30 }), (parts) => {
      const decoded = decodeXtext(parts.join(''));
      assert.notEqual(decoded, undefined);
      assert.equal(decodeXtext(encodeXtext(decoded ?? '')), decoded);
    }),
  );
});

test('parseBdatArgs: a size of 1 to 15 digits and an optional LAST, nothing else', () => {
  assert.deepEqual(parseBdatArgs('10'), { size: 10, last: false });
  assert.deepEqual(parseBdatArgs('0 LAST'), { size: 0, last: true });
  assert.deepEqual(parseBdatArgs('007 last'), { size: 7, last: true });
  assert.deepEqual(parseBdatArgs('5  LAST '), { size: 5, last: true });
  assert.deepEqual(parseBdatArgs('999999999999999'), { size: 999999999999999, last: false });
  for (const bad of ['', ' 10', 'LAST', '-1', '+1', '1.5', '1e3', '0x10', '10 LASTX', '10 LAST x', '10LAST', '1234567890123456']) {
    assert.equal(parseBdatArgs(bad), undefined, JSON.stringify(bad));
  }
});

test('property: parseBdatArgs reads back any size it is given', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.boolean(), (n, last) => {
      const args = `${n}${last ? ' LAST' : ''}`;
      const parsed = parseBdatArgs(args);
      if (String(n).length > 15) assert.equal(parsed, undefined);
      else assert.deepEqual(parsed, { size: n, last });
    }),
  );
});

test('domainOf and localPartOf split at the last @', () => {
  assert.equal(domainOf('"a@b"@Example.TEST.'), 'example.test');
  assert.equal(localPartOf('"a@b"@example.test'), '"a@b"');
  assert.equal(domainOf(''), '');
  assert.equal(localPartOf('postmaster'), 'postmaster');
});
