import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostAllowed } from './guards.js';

test('Host: the listen address, localhost and the hostname, with any port; no other name', () => {
  const at = { listenHost: '127.0.0.1', hostname: 'mx.example.com', secure: false };
  for (const ok of [
    '127.0.0.1:8025',
    '127.0.0.1',
    'localhost:8025',
    'LOCALHOST',
    'mx.example.com',
    'mx.example.com:8025',
    'MX.Example.COM.:443',
  ]) {
    assert.equal(hostAllowed(ok, at), true, ok);
  }
  for (const bad of [
    'evil.example',
    'evil.example:8025',
    'mx.example.com.evil.example',
    '127.0.0.2:8025',
    '[::1]:8025',
    '',
    undefined,
    'a b',
    'localhost:99999',
    '127.0.0.1:8025:1',
  ]) {
    assert.equal(hostAllowed(bad, at), false, String(bad));
  }
});

test('Host on a wildcard or IPv6 listen address: any IP literal for a wildcard (a literal cannot be re-pointed), the address itself otherwise', () => {
  for (const listenHost of ['0.0.0.0', '::']) {
    const at = { listenHost, hostname: 'mx.example.com', secure: true };
    for (const ok of ['192.0.2.10:8025', '[2001:db8::1]:8025', '10.0.0.1', 'mx.example.com'])
      assert.equal(hostAllowed(ok, at), true, `${listenHost} ${ok}`);
    assert.equal(hostAllowed('rebound.example:8025', at), false);
  }
  const v6 = { listenHost: '::1', hostname: 'mx.example.com', secure: false };
  assert.equal(hostAllowed('[::1]:8025', v6), true);
  assert.equal(hostAllowed('127.0.0.1:8025', v6), false);
  const named = { listenHost: 'console.example.com', hostname: 'mx.example.com', secure: true };
  assert.equal(hostAllowed('console.example.com', named), true);
});
