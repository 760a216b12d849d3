/**
 * The console's listener at its default limits, over real sockets: a 100 MB login POST is refused
 * with 413 without the server's memory growing; a `Host` that is not the console's own gets 421;
 * 2,100 idle sockets to the console (the server limited to 1,024 descriptors) leave SMTP working;
 * idle sockets are closed after the idle timeout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { readdir, readFile } from 'node:fs/promises';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { eventually, startBarge, tempDir, TEST_HOSTNAME } from '../support/barge.js';
import { exited, spawnBarge, type ChildBarge } from '../support/crash.js';
import { startConsole, submit } from '../support/admin.js';
import { startAdmin } from '../../src/admin/server.js';
import { CONSOLE_LIMITS } from '../../src/admin/guards.js';

const MiB = 1024 * 1024;

async function consoleChild(wrapper: readonly string[] = []): Promise<{ barge: ChildBarge; port: number; pid: number }> {
  const barge = await spawnBarge(await tempDir(), ['--admin-listen', '127.0.0.1:0'], wrapper);
  const url = await eventually(async () => /console and \/metrics at (\S+)/.exec(barge.log())?.[1], 10_000, 'the console URL');
  return { barge, port: Number(new URL(url).port), pid: barge.child.pid ?? 0 };
}

async function stopChild(barge: ChildBarge): Promise<void> {
  barge.child.kill('SIGTERM');
  await exited(barge.child);
}

/** VmRSS and VmHWM (peak) of a process, in bytes. */
async function memory(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** Sends a request with `size` body bytes (by Content-Length, or chunked) and returns the status the server answered. */
function bigPost(port: number, path: string, size: number, chunked: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ port, host: '127.0.0.1' });
    let answer = '';
    socket.on('data', (d: Buffer) => {
      answer += d.toString('latin1');
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(answer)?.[1];
      if (status !== undefined) {
        socket.destroy();
        resolve(Number(status));
      }
    });
    // The server may close before taking every byte: that is the point.
    socket.on('error', () => undefined);
    socket.on('close', () => reject(new Error(`closed without an answer: ${JSON.stringify(answer)}`)));
    const length = chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${size}`;
    socket.write(
      `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/x-www-form-urlencoded\r\n${length}\r\n\r\n`,
    );
    const piece = Buffer.alloc(MiB, 'a');
    let sent = 0;
    const pump = (): void => {
      while (sent < size && !socket.destroyed) {
        const part = piece.subarray(0, Math.min(piece.length, size - sent));
        sent += part.length;
        const ok = socket.write(
          chunked ? Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n')]) : part,
        );
        if (!ok) {
          socket.once('drain', pump);
          return;
        }
      }
      if (chunked && !socket.destroyed) socket.write('0\r\n\r\n');
    };
    pump();
  });
}

test('a 100 MB POST /login is refused with 413 and the server grows by less than 20 MiB; other forms stop at 64 KiB', async () => {
  const { barge, port, pid } = await consoleChild();
  try {
    // Warm: the login handler and its form parser have run once.
    assert.equal(await bigPost(port, '/login', 10, false), 401);
    await new Promise((r) => setTimeout(r, 500));
    const before = await memory(pid);
    let sampled = before.rss;
    const sampler = setInterval(
      () =>
        void memory(pid).then(
          (m) => (sampled = Math.max(sampled, m.rss)),
          () => undefined,
        ),
      10,
    );
    const statuses = [await bigPost(port, '/login', 100 * MiB, false), await bigPost(port, '/login', 100 * MiB, true)];
    clearInterval(sampler);
    const after = await memory(pid);
    const peak = Math.max(sampled, after.rss, after.peak > before.peak ? after.peak : 0);
    const grown = (peak - before.rss) / MiB;
    console.log(
      `# RSS before ${(before.rss / MiB).toFixed(1)} MiB, highest during two 100 MB posts ${(peak / MiB).toFixed(1)} MiB (+${grown.toFixed(1)} MiB)`,
    );
    assert.deepEqual(statuses, [413, 413]);
    assert.ok(grown < 20, `grew by ${grown.toFixed(1)} MiB`);
    // Past 8 KiB the login form is refused; 64 KiB is the limit elsewhere (this POST then fails for want of a session).
    assert.equal(await bigPost(port, '/login', 9 * 1024, false), 413);
    assert.equal(await bigPost(port, '/users/add', 60 * 1024, false), 403);
    assert.equal(await bigPost(port, '/users/add', 65 * 1024, true), 413);
  } finally {
    await stopChild(barge);
  }
});

function get(
  port: number,
  path: string,
  host: string,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host }, agent: false }, (res) => {
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
      res.resume();
    });
    req.once('error', reject);
    req.end();
  });
}

test('a Host other than the listen address, localhost or the hostname gets 421, on every path', async () => {
  const b = await startBarge();
  const admin = await startConsole(b);
  try {
    const port = Number(new URL(admin.url).port);
    for (const path of ['/login', '/healthz', '/metrics', '/']) {
      for (const host of [
        'evil.example',
        `evil.example:${port}`,
        '127.0.0.2',
        `127.0.0.1.evil.example:${port}`,
        `${TEST_HOSTNAME}.evil.example`,
      ]) {
        assert.equal((await get(port, path, host)).status, 421, `${path} with Host: ${host}`);
      }
    }
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'localhost', TEST_HOSTNAME, `${TEST_HOSTNAME}:${port}`, 'BARGE.TEST.']) {
      assert.equal((await get(port, '/login', host)).status, 200, `Host: ${host}`);
    }
    assert.equal((await get(port, '/metrics', `127.0.0.1:${port}`)).status, 200);
    // The security headers, from hono's secure-headers: the same policy as before.
    const { headers } = await get(port, '/login', `127.0.0.1:${port}`);
    const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'";
    assert.equal(headers['content-security-policy'], csp);
    assert.equal(headers['x-frame-options'], 'DENY');
    assert.equal(headers['x-content-type-options'], 'nosniff');
    assert.equal(headers['referrer-policy'], 'no-referrer');
    assert.equal(headers['cache-control'], 'no-store');
    assert.equal(headers['strict-transport-security'], undefined);
  } finally {
    await admin.close();
    await b.stop();
  }
});

/** Opens `count` sockets that never send a byte; `closed` counts those the server has closed. */
async function idleSockets(port: number, count: number): Promise<{ sockets: Socket[]; closed: () => number }> {
  const sockets: Socket[] = [];
  let closed = 0;
  // In batches: the listen backlog (511) would otherwise drop SYNs and make connects wait for retries.
  for (let i = 0; i < count; i += 200) {
    await Promise.all(
      Array.from(
        { length: Math.min(200, count - i) },
        () =>
          new Promise<void>((resolve) => {
            const s = netConnect({ port, host: '127.0.0.1' }, () => resolve());
            s.on('error', () => resolve());
            s.on('close', () => {
              closed++;
              resolve();
            });
            sockets.push(s);
          }),
      ),
    );
  }
  return { sockets, closed: () => closed };
}

test('2,100 idle sockets to the console (the server has 1,024 descriptors) leave SMTP working; the console keeps at most 64', async () => {
  const { barge, port, pid } = await consoleChild(['prlimit', '--nofile=1024:1024', '--']);
  const smtpPort = barge.port;
  try {
    const baseline = (await readdir(`/proc/${pid}/fd`)).length;
    const start = performance.now();
    const { sockets, closed } = await idleSockets(port, 2100);
    await eventually(
      async () => (closed() >= 2100 - CONSOLE_LIMITS.maxConnections - 20 ? true : undefined),
      5000,
      'sockets past the cap closed',
    );
    const open = (await readdir(`/proc/${pid}/fd`)).length;
    console.log(`# descriptors: ${baseline} before, ${open} with 2,100 idle console sockets; ${closed()} closed by the server at once`);
    assert.ok(open - baseline <= CONSOLE_LIMITS.maxConnections + 5, `${open - baseline} more descriptors`);
    // A whole SMTP transaction, to a local mailbox, while the console's sockets are held.
    const id = await submit(smtpPort, ['Subject: still here\r\n\r\nhi\r\n'], 'bob@localhost');
    assert.match(id, /^[0-9A-Z]+$/);
    // All that happened before the idle timeout could close anything.
    assert.ok(performance.now() - start < CONSOLE_LIMITS.idleTimeoutMs - 1000, `${(performance.now() - start).toFixed(0)} ms`);
    assert.ok(sockets.length - closed() >= CONSOLE_LIMITS.maxConnections - 5, `${sockets.length - closed()} sockets held`);
    for (const s of sockets) s.destroy();
  } finally {
    await stopChild(barge);
  }
});

/** When (performance.now()) the server closes this socket (read, so its end is seen). */
function closedAt(socket: Socket): Promise<number> {
  return new Promise((resolve) => {
    socket.resume();
    socket.on('error', () => undefined);
    socket.once('close', () => resolve(performance.now()));
  });
}

test('the console closes idle sockets after its default timeouts: silent, dribbling headers, kept alive, TLS never begun', async () => {
  const b = await startBarge();
  const plain = await startConsole(b);
  const https = await startAdmin(
    { ...b.config, admin: { listen: { host: '0.0.0.0', port: 0 } } },
    {
      server: b.server,
      configFile: join(b.dataDir, 'console.toml'),
      check: async () => b.config,
      reload: async () => ({ ok: true, message: '' }),
    },
  );
  try {
    const port = Number(new URL(plain.url).port);
    const start = performance.now();
    const silent = closedAt(netConnect({ port, host: '127.0.0.1' }));
    // Slowloris: a header byte every 2 s keeps the socket from being idle, never finishing the headers.
    const dribbler = netConnect({ port, host: '127.0.0.1' });
    const dribbled = closedAt(dribbler);
    dribbler.write('GET /login HTTP/1.1\r\n');
    const drip = setInterval(() => dribbler.destroyed || dribbler.write('X'), 2000);
    // One request answered, then the connection kept open and unused.
    const kept = netConnect({ port, host: '127.0.0.1' });
    const keptClosed = closedAt(kept);
    kept.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    const answered = new Promise<number>((resolve) => kept.once('data', () => resolve(performance.now())));
    const tlsIdle = closedAt(netConnect({ port: Number(new URL(https.url).port), host: '127.0.0.1' }));
    const [s, d, k, t, a] = await Promise.all([silent, dribbled, keptClosed, tlsIdle, answered]);
    clearInterval(drip);
    const times = { silent: s - start, dribbling: d - start, 'kept alive': k - a, 'TLS never begun': t - start };
    console.log(
      `# closed after (ms): ${Object.entries(times)
        .map(([what, ms]) => `${what} ${ms.toFixed(0)}`)
        .join(', ')}`,
    );
    const near = (ms: number, limit: number, what: string): void =>
      assert.ok(ms >= limit - 200 && ms <= limit + CONSOLE_LIMITS.checkIntervalMs + 2000, `${what}: ${ms.toFixed(0)} ms, limit ${limit}`);
    near(times.silent, CONSOLE_LIMITS.idleTimeoutMs, 'silent');
    near(times.dribbling, CONSOLE_LIMITS.headersTimeoutMs, 'dribbling headers');
    near(times['kept alive'], CONSOLE_LIMITS.keepAliveTimeoutMs, 'kept alive');
    near(times['TLS never begun'], CONSOLE_LIMITS.handshakeTimeoutMs, 'TLS never begun');
    // A TLS client that does finish its handshake is answered.
    await new Promise<void>((resolve, reject) => {
      const s2 = tlsConnect({ port: Number(new URL(https.url).port), host: '127.0.0.1', rejectUnauthorized: false }, () => {
        s2.destroy();
        resolve();
      });
      s2.once('error', reject);
    });
  } finally {
    await Promise.all([plain.close(), https.close()]);
    await b.stop();
  }
});
