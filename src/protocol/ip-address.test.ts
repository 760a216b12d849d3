/** IP address text: strict parsing, RFC 5952 spelling, and the round trip between them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatIpv4, formatIpv6, ipv4Bytes, ipv6Bytes } from './ip-address.js';

test('IPv4: dotted decimal only, octets 0-255 without leading zeros', () => {
  assert.deepEqual(ipv4Bytes('192.0.2.255'), Uint8Array.of(192, 0, 2, 255));
  assert.deepEqual(ipv4Bytes('0.0.0.0'), Uint8Array.of(0, 0, 0, 0));
  for (const bad of ['1.2.3', '1.2.3.4.5', '1.2.3.256', '01.2.3.4', '1.2.3.4 ', ' 1.2.3.4', '1.2.3.-4', '0x1.2.3.4', ''])
    assert.equal(ipv4Bytes(bad), undefined, bad);
});

test('IPv6: the text forms of RFC 4291 2.2 are read; malformed ones are not', () => {
  const loopback = new Uint8Array(16);
  loopback[15] = 1;
  assert.deepEqual(ipv6Bytes('::1'), loopback);
  assert.deepEqual(ipv6Bytes('0:0:0:0:0:0:0:1'), loopback);
  assert.deepEqual(ipv6Bytes('::'), new Uint8Array(16));
  assert.deepEqual(ipv6Bytes('::ffff:192.0.2.1')?.subarray(10), Uint8Array.of(0xff, 0xff, 192, 0, 2, 1));
  assert.deepEqual(ipv6Bytes('2001:DB8::8:800:200C:417A'), ipv6Bytes('2001:db8:0:0:8:800:200c:417a'));
  for (const bad of [
    '1::2::3',
    ':1::2',
    '1::2:',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7::8:9',
    '12345::',
    'g::1',
    '::1.2.3',
    '1.2.3.4::',
    '::ffff:1.2.3.4:1',
    ':',
    '',
  ]) {
    assert.equal(ipv6Bytes(bad), undefined, bad);
  }
});

test('IPv6 out: RFC 5952 spelling (4.1 lower case and no leading zeros, 4.2 longest zero run, first of equals, 5 mapped IPv4)', () => {
  const spell = (text: string): string => formatIpv6(ipv6Bytes(text) ?? new Uint8Array(16));
  assert.equal(spell('2001:0DB8:0000:0000:0000:0000:0000:0001'), '2001:db8::1');
  assert.equal(spell('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1');
  assert.equal(spell('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1', 'a single zero group stays (4.2.2)');
  assert.equal(spell('2001:0:0:1:0:0:0:1'), '2001:0:0:1::1');
  assert.equal(spell('0:0:0:0:0:0:0:0'), '::');
  assert.equal(spell('1:0:0:0:0:0:0:0'), '1::');
  assert.equal(spell('::FFFF:c000:0201'), '::ffff:192.0.2.1');
  assert.equal(formatIpv4(Uint8Array.of(9, 192, 0, 2, 1), 1), '192.0.2.1');
});

test('property: any IPv6 text form reads to the bytes its canonical spelling reads to', () => {
  fc.assert(
    fc.property(fc.ipV6(), (text) => {
      const bytes = ipv6Bytes(text);
      assert.ok(bytes !== undefined, text);
      const spelled = formatIpv6(bytes);
      assert.deepEqual(ipv6Bytes(spelled), bytes, `${text} -> ${spelled}`);
      assert.equal(formatIpv6(ipv6Bytes(spelled) ?? new Uint8Array(16)), spelled, 'the spelling is a fixed point');
    }),
    { numRuns: 3000 },
  );
});
