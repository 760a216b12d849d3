/**
 * Where a connection's client address comes from: the socket's peer, or, on a listener behind a
 * load balancer (`proxy_protocol`), the PROXY protocol header the balancer sends first. The header is
 * read from the raw TCP socket before anything else happens on it: before the greeting (the server
 * speaks first, RFC 5321 3.1) and before the handshake of an implicit TLS listener (RFC 8314 3.3).
 * Reads are bounded by the parser's limits and by PROXY_HEADER_TIMEOUT_MS. The bytes that followed
 * the header in the same reads are put back on the socket, which is handed over paused, so the
 * session or the TLS layer reads them first and intact.
 */
import { type BlockList, isIP, type Socket } from 'node:net';
import { ProxyHeaderReader } from '../protocol/proxy-header.js';
import type { Clock } from '../time/clock.js';
import { plainIp } from './policy.js';

/**
 * A balancer sends its header as soon as it has connected, so the wait is short and fixed (as
 * Postfix's smtpd_upstream_proxy_timeout, 5 s), not the command timeout of minutes.
 */
export const PROXY_HEADER_TIMEOUT_MS = 5000;

/**
 * The client's address, or why the connection is refused. No reason: it closed before sending a
 * byte, as a balancer's TCP health check does, which is not worth a log line.
 */
export type Intake = { readonly clientIp: string } | { readonly refused: string | undefined };

/** The address the socket is connected from: the client itself, or the balancer in front of it. */
export function socketPeer(socket: Socket): string {
  return plainIp(socket.remoteAddress ?? '');
}

/** Whether `ip` is in `networks` (proxy_from); an address the socket no longer knows is in none. */
export function inNetworks(networks: BlockList, ip: string): boolean {
  const family = isIP(ip);
  return family !== 0 && networks.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}

/** Reads the header; `done` gets the client's address (the socket then paused) or the refusal, once. */
export function readProxyHeader(socket: Socket, clock: Clock, done: (intake: Intake) => void): void {
  const reader = new ProxyHeaderReader();
  let finished = false;
  const finish = (intake: Intake): void => {
    if (finished) return;
    finished = true;
    timer.cancel();
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('close', onEnd);
    done(intake);
  };
  const onData = (bytes: Buffer): void => {
    const read = reader.push(bytes);
    if (read.kind === 'need-more') return;
    if (read.kind === 'invalid') return finish({ refused: read.reason });
    socket.pause();
    if (read.rest.length > 0) socket.unshift(read.rest);
    // LOCAL, UNKNOWN: the balancer's own connection (a health check), so the socket's address is the client's.
    finish({ clientIp: read.addresses === undefined ? socketPeer(socket) : plainIp(read.addresses.source) });
  };
  const onEnd = (): void => finish({ refused: reader.started ? 'closed before the end of the PROXY header' : undefined });
  const timer = clock.after(PROXY_HEADER_TIMEOUT_MS, () =>
    finish({ refused: `no PROXY header within ${PROXY_HEADER_TIMEOUT_MS / 1000} s` }),
  );
  socket.on('error', () => socket.destroy());
  socket.on('data', onData);
  socket.once('end', onEnd);
  socket.once('close', onEnd);
}
