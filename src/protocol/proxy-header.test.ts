/** The PROXY protocol parser: both versions, every family, limits, split reads and arbitrary input. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ipv4Bytes, ipv6Bytes } from './ip-address.js';
import { parseProxyHeader, PROXY_V1_MAX_BYTES, PROXY_V2_MAX_BYTES, ProxyHeaderReader, type ProxyHeaderResult } from './proxy-header.js';

const SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

/** A version 2 header: command (0 LOCAL, 1 PROXY), family/transport byte, address block, TLV bytes. */
function v2(command: number, familyTransport: number, addresses: number[], tlvs: number[] = []): Buffer {
  const length = addresses.length + tlvs.length;
  return Buffer.from([...SIGNATURE, 0x20 | command, familyTransport, length >> 8, length & 0xff, ...addresses, ...tlvs]);
}

const V4_ADDRESSES = [192, 0, 2, 7, 198, 51, 100, 1, 0xc3, 0x50, 0x00, 0x19]; // 192.0.2.7:50000 -> 198.51.100.1:25
const V6_ADDRESSES = [
  ...[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07],
  ...[0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x19],
  0xc3,
  0x51,
  0x01,
  0xd1, // 50001 -> 465
];
/** A TLV (spec 2.2.7): PP2_TYPE_AUTHORITY with a host name, then PP2_TYPE_NOOP padding. */
const TLVS = [0x02, 0x00, 0x0b, ...Buffer.from('mx.test.net'), 0x04, 0x00, 0x03, 0, 0, 0];

const VALID: ReadonlyArray<readonly [string, Buffer, ProxyHeaderResult]> = [
  [
    'v1 TCP4',
    Buffer.from('PROXY TCP4 192.0.2.7 198.51.100.1 50000 25\r\n'),
    {
      kind: 'header',
      version: 1,
      consumed: 44,
      addresses: { family: 'ipv4', source: '192.0.2.7', sourcePort: 50000, destination: '198.51.100.1', destinationPort: 25 },
    },
  ],
  [
    'v1 TCP6, spelled canonically',
    Buffer.from('PROXY TCP6 2001:DB8:0:0:0:0:0:7 2001:db8:1::19 50001 465\r\n'),
    {
      kind: 'header',
      version: 1,
      consumed: 58,
      addresses: { family: 'ipv6', source: '2001:db8::7', sourcePort: 50001, destination: '2001:db8:1::19', destinationPort: 465 },
    },
  ],
  [
    'v1 TCP6 with an IPv4-mapped client',
    Buffer.from('PROXY TCP6 ::ffff:192.0.2.7 ::1 1 2\r\n'),
    {
      kind: 'header',
      version: 1,
      consumed: 37,
      addresses: { family: 'ipv6', source: '::ffff:192.0.2.7', sourcePort: 1, destination: '::1', destinationPort: 2 },
    },
  ],
  ['v1 UNKNOWN', Buffer.from('PROXY UNKNOWN\r\n'), { kind: 'header', version: 1, consumed: 15, addresses: undefined }],
  [
    'v1 UNKNOWN with ignored addresses',
    Buffer.from('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n'),
    { kind: 'header', version: 1, consumed: 35, addresses: undefined },
  ],
  [
    'v2 PROXY IPv4',
    v2(1, 0x11, V4_ADDRESSES),
    {
      kind: 'header',
      version: 2,
      consumed: 28,
      addresses: { family: 'ipv4', source: '192.0.2.7', sourcePort: 50000, destination: '198.51.100.1', destinationPort: 25 },
    },
  ],
  [
    'v2 PROXY IPv6 with TLVs skipped',
    v2(1, 0x21, V6_ADDRESSES, TLVS),
    {
      kind: 'header',
      version: 2,
      consumed: 16 + 36 + TLVS.length,
      addresses: { family: 'ipv6', source: '2001:db8::7', sourcePort: 50001, destination: '2001:db8:1::19', destinationPort: 465 },
    },
  ],
  [
    'v2 LOCAL (a health check) ignores its address block',
    v2(0, 0x11, V4_ADDRESSES),
    { kind: 'header', version: 2, consumed: 28, addresses: undefined },
  ],
  ['v2 LOCAL with nothing after it', v2(0, 0x00, []), { kind: 'header', version: 2, consumed: 16, addresses: undefined }],
  ['v2 PROXY UNSPEC', v2(1, 0x00, []), { kind: 'header', version: 2, consumed: 16, addresses: undefined }],
  [
    'v2 PROXY over a UNIX socket',
    v2(1, 0x31, new Array<number>(216).fill(0x61)),
    { kind: 'header', version: 2, consumed: 232, addresses: undefined },
  ],
];

test('valid headers of both versions give their addresses and length; trailing bytes are not taken', () => {
  for (const [name, bytes, expected] of VALID) {
    assert.deepEqual(parseProxyHeader(bytes), expected, name);
    assert.deepEqual(
      parseProxyHeader(Buffer.concat([bytes, Buffer.from('EHLO client.example\r\n')])),
      expected,
      `${name} + bytes after it`,
    );
  }
});

test('every proper prefix of a valid header needs more; never a verdict on part of a header', () => {
  for (const [name, bytes] of VALID) {
    for (let n = 0; n < bytes.length; n++)
      assert.deepEqual(parseProxyHeader(bytes.subarray(0, n)), { kind: 'need-more' }, `${name} cut at ${n}`);
  }
});

test('split reads: every split point (and byte by byte) gives the same header and the same bytes after it', () => {
  const after = Buffer.from('EHLO x\r\n');
  for (const [name, header, expected] of VALID) {
    const whole = Buffer.concat([header, after]);
    const want =
      expected.kind === 'header'
        ? { kind: 'header', version: expected.version, addresses: expected.addresses, rest: 'EHLO x\r\n' }
        : expected;
    for (let split = 0; split <= whole.length; split++) {
      const reader = new ProxyHeaderReader();
      const first = reader.push(whole.subarray(0, split));
      // A header complete in the first read leaves the second read to the connection, after the rest of the first.
      const result = first.kind === 'need-more' ? reader.push(whole.subarray(split)) : first;
      const rest =
        first.kind === 'header' ? Buffer.concat([first.rest, whole.subarray(split)]) : result.kind === 'header' ? result.rest : undefined;
      const got = result.kind === 'header' ? { ...result, rest: rest?.toString('latin1') } : result;
      assert.deepEqual(got, want, `${name} split at ${split}`);
    }
    const bytewise = new ProxyHeaderReader();
    let last = bytewise.push(whole.subarray(0, 1));
    for (let i = 1; i < header.length; i++) last = bytewise.push(whole.subarray(i, i + 1));
    assert.equal(last.kind, 'header', `${name} byte by byte`);
  }
});

test('the bytes after the header are handed on intact, including bytes that look like another header', () => {
  const reader = new ProxyHeaderReader();
  const tail = Buffer.from('PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\n\x16\x03\x01binary\0');
  const r = reader.push(Buffer.concat([Buffer.from('PROXY TCP4 192.0.2.7 198.51.100.1 50000 25\r\n'), tail]));
  assert.equal(r.kind, 'header');
  assert.deepEqual(r.kind === 'header' ? [r.addresses?.source, r.rest] : undefined, ['192.0.2.7', tail]);
  assert.equal(reader.push(Buffer.from('x')).kind, 'invalid', 'a reader reads one header');
});

const INVALID: ReadonlyArray<readonly [string, Buffer, RegExp]> = [
  ['an SMTP command', Buffer.from('EHLO client.example\r\n'), /not a PROXY/],
  ['a TLS ClientHello', Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5]), /not a PROXY/],
  ['lower case', Buffer.from('proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n'), /not a PROXY/],
  ['a wrong byte early in the v1 prefix', Buffer.from('PROXZ'), /not a PROXY/],
  ['a wrong v2 signature', Buffer.from([...SIGNATURE.slice(0, 7), 0x00]), /not a PROXY/],
  ['v1 over 107 bytes without an end', Buffer.from(`PROXY UNKNOWN ${'x'.repeat(100)}`), /longer than 107/],
  ['v1 ended by a bare LF', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n'), /CRLF/],
  ['v1 with a double space', Buffer.from('PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n'), /needs protocol/],
  ['v1 with a missing port', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n'), /needs protocol/],
  ['v1 unknown protocol', Buffer.from('PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n'), /protocol/],
  ['v1 TCP4 with an IPv6 address', Buffer.from('PROXY TCP4 ::1 5.6.7.8 1 2\r\n'), /not IPv4/],
  ['v1 TCP6 with an IPv4 address', Buffer.from('PROXY TCP6 1.2.3.4 ::1 1 2\r\n'), /not IPv6/],
  ['v1 octet over 255', Buffer.from('PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n'), /not IPv4/],
  ['v1 octet with a leading zero', Buffer.from('PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n'), /not IPv4/],
  ['v1 IPv6 with two ::', Buffer.from('PROXY TCP6 1::2::3 ::1 1 2\r\n'), /not IPv6/],
  ['v1 port over 65535', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n'), /port/],
  ['v1 port with a leading zero', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 025 2\r\n'), /port/],
  ['v2 version 1', Buffer.from([...SIGNATURE, 0x11, 0x11, 0, 12, ...V4_ADDRESSES]), /version 1 is not 2/],
  ['v2 command 2', Buffer.from([...SIGNATURE, 0x22, 0x11, 0, 12, ...V4_ADDRESSES]), /command 2/],
  ['v2 unknown family', v2(1, 0x41, V4_ADDRESSES), /unknown/],
  ['v2 over UDP', v2(1, 0x12, V4_ADDRESSES), /not a stream/],
  ['v2 IPv4 block too short', v2(1, 0x11, V4_ADDRESSES.slice(0, 11)), /too short for IPv4/],
  ['v2 IPv6 block too short', v2(1, 0x21, V6_ADDRESSES.slice(0, 35)), /too short for IPv6/],
];

test('invalid headers are refused with a reason', () => {
  for (const [name, bytes, reason] of INVALID) {
    const r = parseProxyHeader(bytes);
    assert.equal(r.kind, 'invalid', name);
    assert.match(r.kind === 'invalid' ? r.reason : '', reason, name);
  }
});

test('oversize v2 headers are refused from the fixed 16 bytes, before their body is awaited', () => {
  const claim = (length: number): Buffer => Buffer.from([...SIGNATURE, 0x21, 0x11, length >> 8, length & 0xff]);
  assert.match(JSON.stringify(parseProxyHeader(claim(0xffff))), /65551 bytes is over the limit of 2048/);
  assert.deepEqual(parseProxyHeader(claim(PROXY_V2_MAX_BYTES - 16)), { kind: 'need-more' }, 'the largest allowed length is awaited');
  assert.equal(parseProxyHeader(claim(PROXY_V2_MAX_BYTES - 15)).kind, 'invalid');
  const largest = v2(1, 0x11, V4_ADDRESSES, new Array<number>(PROXY_V2_MAX_BYTES - 28).fill(0));
  assert.equal(parseProxyHeader(largest).kind, 'header');
});

test('a v1 header of exactly 107 bytes is read; 107 bytes without its end are not waited on further', () => {
  const line = `PROXY UNKNOWN ${'f'.repeat(PROXY_V1_MAX_BYTES - 16)}\r\n`;
  assert.equal(line.length, PROXY_V1_MAX_BYTES);
  assert.deepEqual(parseProxyHeader(Buffer.from(line)), { kind: 'header', version: 1, consumed: 107, addresses: undefined });
  assert.equal(parseProxyHeader(Buffer.from(`${line.slice(0, -2)}x\r\n`)).kind, 'invalid');
  assert.equal(parseProxyHeader(Buffer.from(line.slice(0, -1))).kind, 'need-more');
});

const v1Arb = fc.oneof(
  fc.tuple(fc.ipV4(), fc.ipV4(), fc.nat(65535), fc.nat(65535)).map(([s, d, sp, dp]) => `PROXY TCP4 ${s} ${d} ${sp} ${dp}\r\n`),
  fc.tuple(fc.ipV6(), fc.ipV6(), fc.nat(65535), fc.nat(65535)).map(([s, d, sp, dp]) => `PROXY TCP6 ${s} ${d} ${sp} ${dp}\r\n`),
);
const v2Arb = fc
  .tuple(
    fc.constantFrom(0, 1),
    fc.constantFrom(0x00, 0x11, 0x21, 0x31),
    fc.uint8Array({ minLength: 36, maxLength: 216 }),
    fc.uint8Array({ maxLength: 300 }),
  )
  .map(([command, ft, addresses, tlvs]) => v2(command, ft, [...addresses], [...tlvs]));

test('property: no input makes the parser throw; a verdict never takes more than the limits', () => {
  const anyBytes = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    v1Arb.chain((h) =>
      fc.nat(h.length).chain((i) => fc.uint8Array({ maxLength: 3 }).map((b) => Buffer.concat([Buffer.from(h.slice(0, i)), b]))),
    ),
    v2Arb.chain((h) => fc.nat(h.length).chain((i) => fc.uint8Array({ maxLength: 3 }).map((b) => Buffer.concat([h.subarray(0, i), b])))),
  );
  fc.assert(
    fc.property(anyBytes, (bytes) => {
      const r = parseProxyHeader(bytes);
      if (r.kind === 'header') assert.ok(r.consumed <= bytes.length && r.consumed <= PROXY_V2_MAX_BYTES);
      if (r.kind === 'need-more') assert.ok(bytes.length < PROXY_V2_MAX_BYTES);
    }),
    { numRuns: 3000 },
  );
});

test('property: generated headers parse whole, whatever follows, and the address survives the round trip', () => {
  fc.assert(
    fc.property(v1Arb, fc.uint8Array({ maxLength: 40 }), (line, after) => {
      const r = parseProxyHeader(Buffer.concat([Buffer.from(line), after]));
      assert.equal(r.kind, 'header');
      if (r.kind !== 'header') return;
      assert.equal(r.consumed, line.length);
      // The canonical spelling names the same address as the one sent.
      const bytes = r.addresses?.family === 'ipv4' ? ipv4Bytes : ipv6Bytes;
      assert.deepEqual(bytes(r.addresses?.source ?? ''), bytes(line.split(' ')[2] ?? ''));
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(v2Arb, fc.uint8Array({ maxLength: 40 }), (header, after) => {
      const r = parseProxyHeader(Buffer.concat([header, after]));
      assert.equal(r.kind, 'header');
      assert.equal(r.kind === 'header' ? r.consumed : -1, header.length);
    }),
    { numRuns: 1000 },
  );
});
