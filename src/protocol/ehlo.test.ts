import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isMaskedKeyword, keywordLines, maskedKeywords, parseEhloKeywords } from './ehlo.js';

test('masked keywords: X runs with an optional last letter, or stars; real X- keywords are not masked', () => {
  for (const k of ['XXXXXXXA', 'XXXXXXXB', 'XXXX', 'xxxxa', 'XXXXXXXA 1000', 'SI** 1000', '****'])
    assert.equal(isMaskedKeyword(k), true, k);
  for (const k of ['CHUNKING', 'XEXCH50', 'XCLIENT NAME ADDR', 'X-LINK2STATE', 'XFORWARD', 'X', 'XA', 'SIZE 100', 'AUTH LOGIN PLAIN']) {
    assert.equal(isMaskedKeyword(k), false, k);
  }
});

test('EHLO keywords: upper-cased names with their parameters; delivery and probe see the same masked lines', () => {
  const keywords = parseEhloKeywords(['mx.example greets you', 'pipelining', 'SIZE 10240000', 'XXXXXXXA', 'AUTH PLAIN LOGIN', 'SI**']);
  assert.deepEqual([...keywords.keys()], ['PIPELINING', 'SIZE', 'XXXXXXXA', 'AUTH', 'SI**']);
  assert.equal(keywords.get('AUTH'), 'PLAIN LOGIN');
  assert.deepEqual(keywordLines(keywords), ['PIPELINING', 'SIZE 10240000', 'XXXXXXXA', 'AUTH PLAIN LOGIN', 'SI**']);
  // The delivery side reads the parsed map; the probe reads the raw lines: one rule, one answer.
  assert.deepEqual(maskedKeywords(keywordLines(keywords)), ['XXXXXXXA', 'SI**']);
  assert.deepEqual(maskedKeywords(['XXXXXXXA', 'XXXXXXXA', 'CHUNKING']), ['XXXXXXXA']);
});
