/** Which next hops are Barge itself: exact and wildcard listeners, mapped addresses, MX preference. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isMyself, withoutMyself, peerIsMyself, type Listening, type Myself } from './loop.js';
import type { NextHop } from './routes.js';

const me = (listening: Listening[], locals = ['127.0.0.1', '::1', '192.0.2.10', 'fe80::1']): Myself => ({
  hostname: 'mx.example.test',
  listening: () => listening,
  localAddresses: () => locals,
});

test('an exact listener matches its own address and port only', () => {
  const m = me([{ address: '127.0.0.1', port: 25 }]);
  assert.equal(isMyself(m, '127.0.0.1', 25), true);
  assert.equal(isMyself(m, '::ffff:127.0.0.1', 25), true);
  assert.equal(isMyself(m, '127.0.0.1', 26), false);
  assert.equal(isMyself(m, '127.0.0.2', 25), false);
  assert.equal(isMyself(m, '192.0.2.10', 25), false);
});

test('0.0.0.0 means every local IPv4 address; :: every local address of both families', () => {
  const v4 = me([{ address: '0.0.0.0', port: 25 }]);
  for (const a of ['127.0.0.1', '127.8.9.10', '192.0.2.10', '0.0.0.0', '::ffff:192.0.2.10']) assert.equal(isMyself(v4, a, 25), true, a);
  for (const a of ['192.0.2.11', '::1', '198.51.100.1']) assert.equal(isMyself(v4, a, 25), false, a);
  const any = me([{ address: '::', port: 25 }]);
  for (const a of ['::1', 'FE80::1', '192.0.2.10', '127.0.0.1']) assert.equal(isMyself(any, a, 25), true, a);
  assert.equal(isMyself(any, '2001:db8::1', 25), false);
});

test('RFC 5321 5.1: Barge in the MX list drops itself and every MX of the same or higher preference', () => {
  const m = me([{ address: '0.0.0.0', port: 25 }]);
  const hop = (name: string, host: string, preference?: number): NextHop => ({
    name,
    host,
    port: 25,
    ...(preference === undefined ? {} : { preference }),
  });
  const hops = [hop('a', '198.51.100.1', 10), hop('self', '192.0.2.10', 20), hop('b', '198.51.100.2', 20), hop('c', '198.51.100.3', 30)];
  assert.deepEqual(withoutMyself('d.test', hops, m), { hops: hops.slice(0, 1) });
  assert.deepEqual(withoutMyself('d.test', [hop('self', '127.0.0.1', 10), ...hops.slice(0, 1)], m), {
    loop: 'mail for d.test loops back to myself',
  });
  // Its own name in the MX list counts even at another address (RFC 5321 5.1 "its own name").
  assert.deepEqual(withoutMyself('d.test', [hop('MX.example.test', '203.0.113.5', 5), ...hops], m), {
    loop: 'mail for d.test loops back to myself',
  });
  // A route or smart host (no preference) that is Barge is a loop; one that is not passes.
  assert.deepEqual(withoutMyself('r.test', [hop('127.0.0.1', '127.0.0.1')], m), { loop: 'mail for r.test loops back to myself' });
  assert.deepEqual(withoutMyself('r.test', [hop('x', '198.51.100.9')], m), { hops: [hop('x', '198.51.100.9')] });
});

test('after connecting: the address reached, or the name in the greeting or EHLO reply', () => {
  const m = me([{ address: '127.0.0.1', port: 2525 }]);
  assert.equal(peerIsMyself(m, '127.0.0.1', 2525, ['other.test']), true);
  assert.equal(peerIsMyself(m, '198.51.100.1', 25, ['other.test', 'Mx.Example.Test']), true);
  assert.equal(peerIsMyself(m, '198.51.100.1', 25, ['other.test', '']), false);
});
