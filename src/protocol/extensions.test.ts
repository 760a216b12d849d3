/** The IIS-compatible command-support masks and the per-listener extension set. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DEFAULT_INBOUND_MASK,
  DEFAULT_OUTBOUND_MASK,
  EXTENSIONS,
  INBOUND_BITS,
  decodeMask,
  encodeMask,
  outboundAllowsBdat,
  resolveExtensions,
} from './extensions.js';

const KNOWN_INBOUND = Object.values(INBOUND_BITS).reduce((a, b) => a | b, 0);

test('the default inbound mask 7697601 enables every known verb and keeps its unknown bits', () => {
  assert.equal(DEFAULT_INBOUND_MASK, 7697601);
  const d = decodeMask(DEFAULT_INBOUND_MASK);
  assert.deepEqual(d.enabled, ['DSN', 'ETRN', 'TURN', 'ENHANCEDSTATUSCODES', 'CHUNKING', 'BINARYMIME', '8BITMIME']);
  assert.deepEqual(d.disabled, []);
  assert.equal(d.unknownBits, 0x56001);
  assert.equal(d.unknownBits | KNOWN_INBOUND, DEFAULT_INBOUND_MASK);
});

test('encodeMask: 7697601 without CHUNKING and BINARYMIME is 4551873, and back', () => {
  const off = encodeMask(DEFAULT_INBOUND_MASK, [], ['CHUNKING', 'BINARYMIME']);
  assert.equal(off, 4551873);
  assert.deepEqual(decodeMask(off).disabled, ['CHUNKING', 'BINARYMIME']);
  assert.equal(decodeMask(off).unknownBits, 0x56001);
  assert.equal(encodeMask(off, ['chunking', 'binarymime'], []), DEFAULT_INBOUND_MASK);
  assert.equal(encodeMask(DEFAULT_INBOUND_MASK, [], []), DEFAULT_INBOUND_MASK);
});

test('outbound: default 7; clearing BDAT gives 5; other bits are kept', () => {
  assert.equal(DEFAULT_OUTBOUND_MASK, 7);
  assert.equal(encodeMask(7, [], ['BDAT'], true), 5);
  assert.equal(encodeMask(5, ['bdat'], [], true), 7);
  assert.deepEqual(decodeMask(7, true), { enabled: ['BDAT'], disabled: [], unknownBits: 5 });
  assert.deepEqual(decodeMask(5, true), { enabled: [], disabled: ['BDAT'], unknownBits: 5 });
  assert.equal(outboundAllowsBdat(7), true);
  assert.equal(outboundAllowsBdat(5), false);
});

test('encodeMask refuses unknown verbs, naming the known ones', () => {
  assert.throws(() => encodeMask(0, ['NOPE'], []), /unknown inbound verb NOPE; known: DSN/);
  assert.throws(() => encodeMask(0, [], ['CHUNKING'], true), /unknown outbound verb CHUNKING; known: BDAT/);
});

test('masks with the top bit set stay unsigned', () => {
  const all = 0xffffffff;
  assert.equal(encodeMask(all, [], ['DSN']), all - 0x40);
  assert.equal(decodeMask(all).unknownBits, all - KNOWN_INBOUND);
  assert.equal(decodeMask(0x80000000).unknownBits, 0x80000000);
  assert.equal(decodeMask(0xfffffffd, true).unknownBits, 0xfffffffd);
});

test('property: decode then encode reproduces any 32-bit mask; unknown bits never affect the extensions', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.boolean(), (mask, outbound) => {
      const d = decodeMask(mask, outbound);
      assert.ok(d.unknownBits >= 0);
      assert.equal(encodeMask(d.unknownBits, d.enabled, [], outbound), mask);
      assert.equal(encodeMask(mask, d.enabled, d.disabled, outbound), mask);
      if (!outbound) assert.deepEqual(resolveExtensions(mask, {}), resolveExtensions(mask & KNOWN_INBOUND, {}));
    }),
    { numRuns: 500 },
  );
});

test('resolveExtensions: the default offers everything, in advertisement order', () => {
  assert.deepEqual([...resolveExtensions(DEFAULT_INBOUND_MASK, {})], [...EXTENSIONS]);
});

test('resolveExtensions: the mask decides masked verbs; unmasked ones are on unless switched off', () => {
  const none = resolveExtensions(0, {});
  assert.deepEqual([...none], ['PIPELINING', 'SIZE', 'SMTPUTF8', 'HELP']);
  const without = resolveExtensions(4551873, {});
  assert.ok(!without.has('CHUNKING') && !without.has('BINARYMIME') && without.has('8BITMIME') && without.has('DSN'));
  const switchedOff = resolveExtensions(DEFAULT_INBOUND_MASK, { size: false, pipelining: false, dsn: false });
  assert.ok(!switchedOff.has('SIZE') && !switchedOff.has('PIPELINING') && !switchedOff.has('DSN'));
});

test('resolveExtensions: named switches override the mask in both directions', () => {
  assert.ok(resolveExtensions(0, { dsn: true }).has('DSN'));
  assert.ok(!resolveExtensions(DEFAULT_INBOUND_MASK, { etrn: false }).has('ETRN'));
  assert.ok(resolveExtensions(DEFAULT_INBOUND_MASK, { etrn: undefined }).has('ETRN'));
});

test('resolveExtensions: BINARYMIME needs CHUNKING (RFC 3030 3), whatever asks for it', () => {
  assert.ok(!resolveExtensions(DEFAULT_INBOUND_MASK, { chunking: false }).has('BINARYMIME'));
  assert.ok(!resolveExtensions(DEFAULT_INBOUND_MASK, { chunking: false, binarymime: true }).has('BINARYMIME'));
  assert.ok(!resolveExtensions(INBOUND_BITS.BINARYMIME, {}).has('BINARYMIME'));
  assert.ok(resolveExtensions(INBOUND_BITS.CHUNKING, { binarymime: true }).has('BINARYMIME'));
});
