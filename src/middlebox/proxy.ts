/**
 * An SMTP relay that distorts the conversation the way ESMTP-inspecting firewalls do, so clients
 * (ours and others) can be tested against them. One upstream connection per client; both
 * directions are parsed (commands with BDAT/DATA payloads, replies) until STARTTLS succeeds, after
 * which bytes pass opaquely. Unchanged traffic is forwarded byte for byte; payload streams through
 * with backpressure, except what the tarpit deliberately holds.
 */
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Relay } from './relay.js';
import type { MiddleboxOptions } from './modes.js';

export { MIDDLEBOX_MODES, type MiddleboxMode, type MiddleboxOptions } from './modes.js';

export interface Middlebox {
  readonly address: { host: string; port: number };
  readonly stats: { connections: number };
  close(): Promise<void>;
}

export async function startMiddlebox(options: MiddleboxOptions): Promise<Middlebox> {
  const sockets = new Set<Socket>();
  const stats = { connections: 0 };
  const server = createServer((client) => {
    stats.connections++;
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    new Relay(client, options);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.listen.port, options.listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  return {
    address: { host: bound.address, port: bound.port },
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}
