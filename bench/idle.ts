/**
 * Idle connections: many clients connect, read the greeting, say EHLO and then say nothing more
 * while the server's resident size is sampled. The bench's server gets a configuration that admits
 * that many connections from one address (the defaults, max_connections 1000 and 100 per IP, would
 * refuse them); the defaults themselves are unchanged.
 */
import { connect, type Socket } from 'node:net';
import { readFile } from 'node:fs/promises';
import { rssSampler, startBarge, type ServerUnderTest } from './servers.js';

/** A Barge (queue-only) that admits `count` connections from 127.0.0.1. */
export async function startRoomyBarge(count: number): Promise<ServerUnderTest> {
  const limits = `[limits]\nmax_connections = ${count + 10}\nmax_connections_per_ip = ${count + 10}\n`;
  return startBarge(['--queue-only'], 'Barge (idle connections)', undefined, undefined, limits);
}

/** The soft limit on open files, which both this process and the server need `count` of. */
export async function openFileLimit(): Promise<number> {
  const limits = await readFile('/proc/self/limits', 'utf8').catch(() => '');
  const soft = /^Max open files\s+(\d+|unlimited)/m.exec(limits)?.[1];
  return soft === undefined || soft === 'unlimited' ? Number.POSITIVE_INFINITY : Number(soft);
}

/** Opens one connection and completes greeting and EHLO; the socket is then left idle. */
function idleSession(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let text = '';
    let greeted = false;
    const onData = (d: Buffer): void => {
      text += d.toString('latin1');
      // Wait for the final line of the reply, "NNN text" (RFC 5321 4.2.1).
      const last = text.split('\r\n').at(-2);
      if (!text.endsWith('\r\n') || last === undefined || last[3] !== ' ') return;
      if (!text.startsWith(greeted ? '250' : '220')) {
        socket.destroy();
        return reject(new Error(`unexpected reply: ${text.trim().slice(0, 80)}`));
      }
      text = '';
      if (greeted) {
        socket.off('data', onData);
        return resolve(socket);
      }
      greeted = true;
      socket.write('EHLO idle.bench\r\n');
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

/** Peak RSS (bytes) of the server while `count` connections are opened and then held idle for `holdMs`. */
export async function idleConnections(server: ServerUnderTest, count: number, holdMs = 2000): Promise<number> {
  const sampler = rssSampler(server.pid);
  const sockets: Socket[] = [];
  try {
    // In batches, so the listen backlog never overflows.
    for (let opened = 0; opened < count; opened += 100) {
      sockets.push(...(await Promise.all(Array.from({ length: Math.min(100, count - opened) }, () => idleSession(server.port)))));
    }
    await new Promise((r) => setTimeout(r, holdMs));
    if (sockets.some((s) => s.destroyed)) throw new Error('the server closed idle connections early');
    return await sampler.stop();
  } finally {
    await sampler.stop();
    for (const s of sockets) s.destroy();
  }
}
