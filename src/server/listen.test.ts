/** Binding failures are one ListenError line naming the address, what listens there and why. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { ListenError, listenOn, listenProblem } from './listen.js';

test('an address in use is a ListenError naming the address and the setting', async () => {
  const taken = createServer();
  await listenOn(taken, '127.0.0.1', 0, 'first');
  const address = taken.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  try {
    const second = createServer();
    await assert.rejects(listenOn(second, '127.0.0.1', port, 'listener smtp, [listener.smtp] listen or --listen'), (e: unknown) => {
      assert.ok(e instanceof ListenError);
      assert.equal(
        e.message,
        `cannot listen on 127.0.0.1:${port} (listener smtp, [listener.smtp] listen or --listen): address already in use (EADDRINUSE)`,
      );
      return true;
    });
  } finally {
    taken.close();
  }
});

test('a privileged port says what it needs; an IPv6 address is bracketed', () => {
  const denied = Object.assign(new Error('listen EACCES: permission denied 0.0.0.0:25'), { code: 'EACCES' });
  assert.equal(
    listenProblem('0.0.0.0', 25, 'listener mx, [listener.mx] listen or --listen', denied),
    'cannot listen on 0.0.0.0:25 (listener mx, [listener.mx] listen or --listen): permission denied (EACCES): ports below 1024 need root or CAP_NET_BIND_SERVICE',
  );
  const missing = Object.assign(new Error('listen EADDRNOTAVAIL'), { code: 'EADDRNOTAVAIL' });
  assert.equal(
    listenProblem('2001:db8::1', 8025, 'the console', missing),
    'cannot listen on [2001:db8::1]:8025 (the console): address not available on this machine (EADDRNOTAVAIL)',
  );
});
