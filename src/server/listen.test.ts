/** Binding failures are one ListenError line naming the address, what listens there and why. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer } from 'node:net';
import { ListenError, listenOn, listenProblem, Prebound } from './listen.js';

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

test('a socket bound early is taken over by its listener, which gets the clients that connected meanwhile', async () => {
  const port = await freePort();
  const prebound = await Prebound.bind([{ host: '127.0.0.1', port, what: 'listener smtp' }]);
  // A client that connects before the listener exists waits for its greeting.
  const early = connect({ host: '127.0.0.1', port });
  const greeted = new Promise<string>((resolve) => early.once('data', (d: Buffer) => resolve(d.toString())));
  await new Promise<void>((resolve) => early.once('connect', () => resolve()));
  await new Promise((r) => setTimeout(r, 50));
  const server = createServer((socket) => socket.end('220 hello\r\n'));
  await listenOn(server, '127.0.0.1', port, 'listener smtp', prebound);
  try {
    assert.equal(await greeted, '220 hello\r\n');
    const late = connect({ host: '127.0.0.1', port });
    assert.equal(await new Promise<string>((resolve) => late.once('data', (d: Buffer) => resolve(d.toString()))), '220 hello\r\n');
    late.destroy();
    // An address no socket was bound for is bound as usual.
    const other = createServer();
    await listenOn(other, '127.0.0.1', 0, 'the console', prebound);
    other.close();
  } finally {
    early.destroy();
    server.close();
  }
});

test('sockets bound early that no listener takes are closed: the address is free again', async () => {
  const port = await freePort();
  const prebound = await Prebound.bind([{ host: '127.0.0.1', port, what: 'the console' }]);
  await assert.rejects(listenOn(createServer(), '127.0.0.1', port, 'the console'), ListenError, 'held while bound');
  prebound.close();
  const again = createServer();
  await listenOn(again, '127.0.0.1', port, 'the console');
  again.close();
  await assert.rejects(
    Prebound.bind([{ host: '192.0.2.1', port: 25, what: 'listener mx' }]),
    /cannot listen on 192\.0\.2\.1:25 \(listener mx\): address not available/,
  );
});

/** A port nothing listens on just now. */
async function freePort(): Promise<number> {
  const probe = createServer();
  await listenOn(probe, '127.0.0.1', 0, 'probe');
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return typeof address === 'object' && address !== null ? address.port : 0;
}
