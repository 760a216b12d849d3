import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatHostPort, isIPv6, parseHostPort } from './host-port.js';

test('HOST:PORT with a required port: names, IPv4, bracketed IPv6; port 0 only where allowed', () => {
  assert.deepEqual(parseHostPort('mx.example.com:25'), { host: 'mx.example.com', port: 25 });
  assert.deepEqual(parseHostPort(' 127.0.0.1:2525 '), { host: '127.0.0.1', port: 2525 });
  assert.deepEqual(parseHostPort('[::1]:2525'), { host: '::1', port: 2525 });
  assert.deepEqual(parseHostPort('[2001:db8::7]:587'), { host: '2001:db8::7', port: 587 });
  assert.equal(parseHostPort('127.0.0.1:0'), undefined);
  assert.deepEqual(parseHostPort('127.0.0.1:0', { allowZero: true }), { host: '127.0.0.1', port: 0 });
  for (const bad of [
    'mx.example.com',
    '::1:25',
    '[::1]',
    'host:65536',
    'host:-1',
    'a b:25',
    '[mx.example]:25',
    '[1::2::3]:25',
    '',
    ':25',
  ]) {
    assert.equal(parseHostPort(bad), undefined, bad);
  }
});

test('HOST[:PORT] with a default port (barge probe, barge send): a bare IPv6 address has no port', () => {
  const p = (t: string) => parseHostPort(t, { defaultPort: 25 });
  assert.deepEqual(p('mx.example.com'), { host: 'mx.example.com', port: 25 });
  assert.deepEqual(p('[::1]'), { host: '::1', port: 25 });
  assert.deepEqual(p('2001:db8::1'), { host: '2001:db8::1', port: 25 });
  assert.deepEqual(p('::ffff:192.0.2.1'), { host: '::ffff:192.0.2.1', port: 25 });
  assert.equal(p('a:b:c'), undefined);
  assert.equal(p('host:0'), undefined);
});

test('IPv6 text forms (RFC 4291 2.2) and formatting back', () => {
  for (const ok of ['::', '::1', '1:2:3:4:5:6:7:8', '2001:db8::', 'fe80::1:2', '::ffff:10.0.0.1', '1:2:3:4:5:6:1.2.3.4'])
    assert.equal(isIPv6(ok), true, ok);
  for (const bad of ['1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1::2::3', '12345::', 'g::1', '::1.2.3', 'a:b:c'])
    assert.equal(isIPv6(bad), false, bad);
  assert.equal(formatHostPort({ host: '::1', port: 2525 }), '[::1]:2525');
  assert.equal(formatHostPort({ host: 'mx.example', port: 25 }), 'mx.example:25');
});
