/**
 * Binding a listening socket, for the SMTP listeners and the console alike. A bind that fails (an
 * address in use, a privileged port, an address the machine does not have) is a ListenError: one
 * line naming the address, what was to listen there and the setting that moves it, which
 * `barge serve` prints before it exits with status 1.
 */
import type { Server } from 'node:net';
import { systemErrorCode, systemErrorText } from '../config/system-errors.js';
import { formatHostPort } from '../protocol/host-port.js';

export class ListenError extends Error {}

/** `what`: "listener smtp, [listener.smtp] listen or --listen"; "the console, [admin] listen or --admin-listen". */
export function listenOn(server: Server, host: string, port: number, what: string, backlog = 511): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const failed = (e: Error): void => reject(new ListenError(listenProblem(host, port, what, e)));
    server.once('error', failed);
    server.listen({ host, port, backlog }, () => {
      server.off('error', failed);
      resolve();
    });
  });
}

/** "cannot listen on 127.0.0.1:8025 (the console, ...): address already in use (EADDRINUSE)". */
export function listenProblem(host: string, port: number, what: string, e: unknown): string {
  const privileged =
    systemErrorCode(e) === 'EACCES' && port > 0 && port < 1024 ? ': ports below 1024 need root or CAP_NET_BIND_SERVICE' : '';
  return `cannot listen on ${formatHostPort({ host, port })} (${what}): ${systemErrorText(e)}${privileged}`;
}
