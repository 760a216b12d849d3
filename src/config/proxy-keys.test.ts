/** A listener's PROXY protocol keys: off by default, both keys together, networks checked. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from './assemble.js';
import { buildConfig } from './validate.js';

const toml = (text: string): { text: string; file: string } => ({ text, file: 'barge.toml' });
const listener = (keys: string): ReturnType<typeof buildConfig> => buildConfig(toml(`[listener.smtp]\n${keys}\n`), {}, 'h.example');

test('off unless configured; proxy_protocol with proxy_from turns it on for that listener, --listen keeps it', () => {
  assert.equal(buildConfig(undefined, {}, 'h.example').listeners[0]?.proxyFrom, undefined);
  assert.deepEqual(listener('proxy_protocol = true\nproxy_from = ["10.0.0.0/8", "2001:db8::/32", "192.0.2.1"]').listeners[0]?.proxyFrom, [
    '10.0.0.0/8',
    '2001:db8::/32',
    '192.0.2.1',
  ]);
  const moved = buildConfig(
    toml('[listener.smtp]\nproxy_protocol = true\nproxy_from = ["10.0.0.0/8"]\n'),
    { listen: ['127.0.0.1:0'] },
    'h',
  );
  assert.deepEqual(moved.listeners[0]?.proxyFrom, ['10.0.0.0/8']);
  assert.equal(listener('proxy_protocol = false').listeners[0]?.proxyFrom, undefined);
});

test('one key without the other, an empty list and a bad network are errors that name the listener or key', () => {
  const error = (keys: string): string => {
    try {
      listener(keys);
    } catch (e) {
      assert.ok(e instanceof ConfigError, String(e));
      return e.message;
    }
    return assert.fail('no error');
  };
  assert.match(error('proxy_protocol = true'), /listener\.smtp: proxy_protocol = true needs proxy_from/);
  assert.match(error('proxy_from = ["10.0.0.0/8"]'), /listener\.smtp: proxy_from needs proxy_protocol = true/);
  assert.match(error('proxy_protocol = true\nproxy_from = []'), /line 3: listener\.smtp\.proxy_from/);
  assert.match(error('proxy_protocol = true\nproxy_from = ["10.0.0.0/33"]'), /listener\.smtp\.proxy_from\.0: expected an address or CIDR/);
  assert.match(error('proxy_protocol = "yes"'), /listener\.smtp\.proxy_protocol/);
});
