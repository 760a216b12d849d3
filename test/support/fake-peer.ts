/**
 * A scriptable SMTP peer for fault injection: real TCP on loopback, replies chosen per test.
 * It records every message it accepts; `behaviour` decides RCPT replies and what happens at BDAT/DATA.
 */
import { createServer, type Server, type Socket } from 'node:net';

export interface PeerBehaviour {
  keywords?: string[];
  /** Reply to RCPT for an address (default "250 2.1.5 OK"). */
  rcpt?: (address: string) => string;
  /** Reply to EHLO with 500 so the client must fall back to HELO. */
  noEhlo?: boolean;
  /**
   * At the first content command: 'accept' (default), 'reset' the connection, stay 'silent', reply
   * with a string, or 'reset-mid': accept the command, then reset once content bytes arrive.
   */
  content?: () => 'accept' | 'reset' | 'reset-mid' | 'silent' | string;
  /** The name in the greeting and the EHLO/HELO reply (default fake.test). */
  name?: string;
  /** The name in the EHLO/HELO reply only (default: `name`). */
  ehloName?: string;
  /** Milliseconds before the reply to the final chunk (BDAT LAST): a receiver scanning content. */
  finalDelayMs?: number;
}

export interface Received {
  /** The MAIL and RCPT command lines as sent, parameters included. */
  readonly commands: string[];
  readonly from: string;
  readonly rcpts: string[];
  readonly method: 'DATA' | 'BDAT';
  readonly body: Buffer;
}

export interface FakePeer {
  readonly port: number;
  readonly received: Received[];
  /** Connections accepted so far, and the most open at once. */
  readonly stats: { connections: number; maxConcurrent: number };
  behaviour: PeerBehaviour;
  close(): Promise<void>;
}

export async function fakePeer(
  initial: PeerBehaviour = {},
  listen: { readonly host?: string; readonly port?: number } = {},
): Promise<FakePeer> {
  const received: Received[] = [];
  const sockets = new Set<Socket>();
  const stats = { connections: 0, maxConcurrent: 0 };
  const peer = { behaviour: initial } as { behaviour: PeerBehaviour };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    stats.connections++;
    stats.maxConcurrent = Math.max(stats.maxConcurrent, sockets.size);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buf = Buffer.alloc(0);
    let from = '';
    let rcpts: string[] = [];
    let commands: string[] = [];
    let chunk: { remaining: number; last: boolean } | undefined;
    let data: string[] | undefined;
    let bdat: Buffer[] = [];
    let resetMid = false;
    const say = (text: string): boolean => socket.write(`${text}\r\n`);
    const content = (): string => peer.behaviour.content?.() ?? 'accept';
    const name = peer.behaviour.name ?? 'fake.test';
    say(`220 ${name} ESMTP`);
    socket.on('data', (bytes: Buffer) => {
      buf = Buffer.concat([buf, bytes]);
      for (;;) {
        if (chunk !== undefined) {
          if (resetMid && buf.length > 0) return void socket.destroy();
          const take = Math.min(chunk.remaining, buf.length);
          bdat.push(buf.subarray(0, take));
          buf = buf.subarray(take);
          chunk.remaining -= take;
          if (chunk.remaining > 0) return;
          const last = chunk.last;
          chunk = undefined;
          if (last) {
            const message: Received = { commands, from, rcpts, method: 'BDAT', body: Buffer.concat(bdat) };
            bdat = [];
            const delay = peer.behaviour.finalDelayMs ?? 0;
            if (delay > 0) {
              setTimeout(() => {
                received.push(message);
                say('250 2.0.0 OK');
              }, delay);
              continue;
            }
            received.push(message);
          }
          say('250 2.0.0 OK');
          continue;
        }
        const lf = buf.indexOf('\n');
        if (lf < 0) return;
        const line = buf.subarray(0, lf).toString('latin1').replace(/\r$/, '');
        buf = buf.subarray(lf + 1);
        if (data !== undefined) {
          if (resetMid) return void socket.destroy();
          if (line === '.') {
            received.push({ commands, from, rcpts, method: 'DATA', body: Buffer.from(data.join(''), 'latin1') });
            data = undefined;
            say('250 2.0.0 OK');
          } else data.push(`${line.startsWith('.') ? line.slice(1) : line}\r\n`);
          continue;
        }
        const verb = line.split(' ')[0]?.toUpperCase() ?? '';
        if (verb === 'EHLO' && peer.behaviour.noEhlo === true) say('500 5.5.1 what is EHLO');
        else if (verb === 'HELO') say(`250 ${peer.behaviour.ehloName ?? name}`);
        else if (verb === 'EHLO') {
          const keywords = peer.behaviour.keywords ?? [
            'PIPELINING',
            'CHUNKING',
            '8BITMIME',
            'BINARYMIME',
            'SIZE 100000000',
            'ENHANCEDSTATUSCODES',
          ];
          say([`250-${peer.behaviour.ehloName ?? name}`, ...keywords.map((k) => `250-${k}`), '250 HELP'].join('\r\n'));
        } else if (verb === 'MAIL') {
          from = /<([^>]*)>/.exec(line)?.[1] ?? '';
          rcpts = [];
          commands = [line];
          say('250 2.1.0 OK');
        } else if (verb === 'RCPT') {
          const address = /<([^>]*)>/.exec(line)?.[1] ?? '';
          commands.push(line);
          const r = peer.behaviour.rcpt?.(address) ?? '250 2.1.5 OK';
          if (r.startsWith('2')) rcpts.push(address);
          say(r);
        } else if (verb === 'BDAT' || verb === 'DATA') {
          const what = bdat.length === 0 ? content() : 'accept';
          if (what === 'reset') return void socket.destroy();
          if (what === 'silent') return;
          resetMid = what === 'reset-mid';
          const [, size = '0', last] = line.split(' ');
          if (what !== 'accept' && what !== 'reset-mid') {
            if (verb === 'BDAT') chunk = { remaining: Number(size), last: false };
            say(what);
            continue;
          }
          if (verb === 'BDAT') chunk = { remaining: Number(size), last: last?.toUpperCase() === 'LAST' };
          else {
            data = [];
            say('354 go ahead');
          }
          if (verb === 'BDAT' && Number(size) === 0 && chunk !== undefined) continue;
        } else if (verb === 'RSET') say('250 2.0.0 OK');
        else if (verb === 'QUIT') {
          say('221 2.0.0 bye');
          socket.end();
        } else say('500 5.5.1 unknown');
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port ?? 0, listen.host ?? '127.0.0.1', resolve);
  });
  const address = server.address();
  return Object.assign(peer, {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    received,
    stats,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}
