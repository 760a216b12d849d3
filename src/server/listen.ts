/**
 * Binding a listening socket, for the SMTP listeners and the console alike. A bind that fails (an
 * address in use, a privileged port, an address the machine does not have) is a ListenError: one
 * line naming the address, what was to listen there and the setting that moves it, which
 * `barge serve` prints before it exits with status 1.
 *
 * A port below 1024 needs root (or CAP_NET_BIND_SERVICE) to bind, and Barge started as root gives
 * root up before it opens a file (app/privileges.ts): so it binds every address first (Prebound),
 * and each listener, built later, takes over the socket bound for its address instead of binding.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { systemErrorCode, systemErrorText } from '../config/system-errors.js';
import { formatHostPort } from '../protocol/host-port.js';

export class ListenError extends Error {}

/** What listens at a listener's address, and the setting that moves it (for ListenError lines). */
export function listenerWhat(name: string): string {
  return `listener ${name}, [listener.${name}] listen or --listen`;
}
export const CONSOLE_WHAT = 'the console, [admin] listen or --admin-listen';

const BACKLOG = 511;

/**
 * `what`: listenerWhat(name) or CONSOLE_WHAT. With `prebound` holding a socket bound for this
 * address (before the process gave up root), the server takes that one over.
 */
export function listenOn(server: Server, host: string, port: number, what: string, prebound?: Prebound): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const failed = (e: Error): void => reject(new ListenError(listenProblem(host, port, what, e)));
    server.once('error', failed);
    const listening = (): void => {
      server.off('error', failed);
      resolve();
    };
    if (prebound?.take(server, host, port, listening) !== true) server.listen({ host, port, backlog: BACKLOG }, listening);
  });
}

/** "cannot listen on 127.0.0.1:8025 (the console, ...): address already in use (EADDRINUSE)". */
export function listenProblem(host: string, port: number, what: string, e: unknown): string {
  const privileged =
    systemErrorCode(e) === 'EACCES' && port > 0 && port < 1024 ? ': ports below 1024 need root or CAP_NET_BIND_SERVICE' : '';
  return `cannot listen on ${formatHostPort({ host, port })} (${what}): ${systemErrorText(e)}${privileged}`;
}

/** A socket bound early, and the connections it accepted before a listener took it over. */
interface EarlySocket {
  readonly host: string;
  readonly port: number;
  readonly server: Server;
  readonly waiting: Socket[];
}

const ignore = (): void => undefined;

/** Listening sockets bound before the process gave up root, each for its listener to take. */
export class Prebound {
  readonly #sockets: EarlySocket[] = [];

  /** Binds each address in order (a failure is the ListenError listenOn gives, after closing those bound). */
  static async bind(addresses: ReadonlyArray<{ readonly host: string; readonly port: number; readonly what: string }>): Promise<Prebound> {
    const prebound = new Prebound();
    try {
      for (const { host, port, what } of addresses) {
        const waiting: Socket[] = [];
        // A client that connects before its listener is built waits, unanswered, in this queue
        // (SMTP clients wait for the greeting); one that gives up meanwhile is dropped at the handover.
        const server = createServer((socket) => {
          socket.on('error', ignore);
          waiting.push(socket);
        });
        server.on('error', ignore);
        await listenOn(server, host, port, what);
        prebound.#sockets.push({ host, port, server, waiting });
      }
    } catch (e) {
      prebound.close();
      throw e;
    }
    return prebound;
  }

  /**
   * Makes `server` listen on the socket bound for host:port (net.Server.listen takes another
   * server as its handle) and hands it the connections that waited; false when none was bound here.
   */
  take(server: Server, host: string, port: number, listening: () => void): boolean {
    const i = this.#sockets.findIndex((s) => s.host === host && s.port === port);
    const early = this.#sockets[i];
    if (early === undefined) return false;
    this.#sockets.splice(i, 1);
    server.listen(early.server, () => {
      for (const socket of early.waiting.splice(0)) {
        socket.off('error', ignore);
        if (!socket.destroyed) server.emit('connection', socket);
      }
      listening();
    });
    return true;
  }

  /** Closes the sockets no listener took (the console turned off, or a start that failed part way). */
  close(): void {
    for (const early of this.#sockets.splice(0)) {
      early.server.close();
      for (const socket of early.waiting.splice(0)) socket.destroy();
    }
  }
}
