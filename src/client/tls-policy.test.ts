/** RFC 8461 4.1 MX matching: a wildcard stands for exactly one leftmost label. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mxMatches } from './tls-policy.js';

test('MX patterns: literal names and one-label wildcards, case and trailing dot ignored', () => {
  assert.equal(mxMatches('mx1.example.com', ['mx1.example.com']), true);
  assert.equal(mxMatches('MX1.Example.COM.', ['mx1.example.com']), true);
  assert.equal(mxMatches('mx2.example.com', ['mx1.example.com']), false);
  assert.equal(mxMatches('mx.example.com', ['*.example.com']), true);
  assert.equal(mxMatches('a.b.example.com', ['*.example.com']), false, "a wildcard is one label (mailauth's validateMx allows more)");
  assert.equal(mxMatches('example.com', ['*.example.com']), false);
  assert.equal(mxMatches('mx.badexample.com', ['*.example.com']), false);
});
