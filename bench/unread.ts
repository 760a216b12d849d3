/**
 * Clients that pipeline commands and never read a reply (issue: a server without reply flow control
 * queues every reply in memory). Floods run for a bounded time and volume, and stop early if the
 * server passes a safety ceiling, so a server without the defence cannot take the machine down.
 */
import { connect, type Socket } from 'node:net';
import { openSession } from './load-generator.js';
import { rssSampler, type ServerUnderTest } from './servers.js';

/**
 * Writes `prefix`, then `line` repeatedly, without ever reading, until `total` octets, `ms`, or
 * `stop()`; returns octets written.
 */
export async function floodUnread(
  socket: Socket,
  line: string,
  total: number,
  ms: number,
  stop: () => boolean = () => false,
  prefix = '',
): Promise<number> {
  const block = Buffer.from(line.repeat(Math.ceil(65_536 / line.length)));
  const deadline = Date.now() + ms;
  let sent = 0;
  socket.pause();
  socket.write(prefix);
  while (sent < total && Date.now() < deadline && !socket.destroyed && !stop()) {
    sent += block.length;
    if (!socket.write(block) && !(await drained(socket, () => Date.now() >= deadline || stop()))) break;
  }
  return sent;
}

/** Waits for 'drain', looking at `giveUp` every 250 ms; false if it gave up first. */
async function drained(socket: Socket, giveUp: () => boolean): Promise<boolean> {
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => {
        socket.off('drain', done);
        resolve(false);
      }, 250);
      const done = (): void => {
        clearTimeout(t);
        resolve(true);
      };
      socket.once('drain', done);
    });
    if (ok) return true;
    if (giveUp() || socket.destroyed) return false;
  }
}

export function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1' }, () => resolve(s));
    s.once('error', reject);
  });
}

export interface FloodResult {
  /** Peak resident size of the server process during the flood, bytes. */
  readonly peakRss: number;
  /** Octets the flooding clients managed to write in all. */
  readonly sent: number;
  /** A normal client's message got its 250 while the flood ran. */
  readonly delivered: boolean;
  readonly stoppedAtCeiling: boolean;
}

/** `connections` clients each flood `bytesEach` of `line` unread for at most `seconds`; meanwhile one message is sent normally. */
export async function unreadFlood(
  server: ServerUnderTest,
  rcpt: string,
  flood: { readonly line: string; readonly prefix?: string },
  connections: number,
  bytesEach: number,
  seconds: number,
  ceiling = 1024 ** 3,
): Promise<FloodResult> {
  const sampler = rssSampler(server.pid);
  let peak = 0;
  const watch = setInterval(() => void sampler.peek().then((p) => (peak = p)), 50);
  const stop = (): boolean => peak > ceiling;
  const sockets = await Promise.all(Array.from({ length: connections }, () => openSocket(server.port)));
  for (const s of sockets) s.on('error', () => undefined);
  const floods = sockets.map((s) => floodUnread(s, flood.line, bytesEach, seconds * 1000, stop, flood.prefix));
  const normal = (async (): Promise<boolean> => {
    await new Promise((r) => setTimeout(r, 500));
    const session = await openSession(server.port, rcpt);
    await session.send(Buffer.from('Subject: meanwhile\r\n\r\nhello\r\n'), 'DATA');
    session.close();
    return true;
  })().catch(() => false);
  const sent = (await Promise.all(floods)).reduce((a, b) => a + b, 0);
  // A server that cannot answer within 10 s of the flood's end has not served the normal client.
  const delivered = await Promise.race([normal, new Promise<boolean>((r) => setTimeout(() => r(false), 10_000).unref())]);
  clearInterval(watch);
  for (const s of sockets) s.destroy();
  return { peakRss: await sampler.stop(), sent, delivered, stoppedAtCeiling: stop() };
}
