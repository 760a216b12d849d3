/**
 * What the console's listener refuses before any page runs, and the bounds on its sockets:
 *
 * - a `Host` other than the console's own names (RFC 9110 7.4: 421 Misdirected Request), so a page
 *   whose name an attacker re-points at this address (DNS rebinding) cannot talk to the console
 *   as same-origin. Allowed: `localhost`, the configured hostname, and the listen address (any IP
 *   address when the console listens on a wildcard address: an IP literal cannot be re-pointed);
 * - request bodies past 8 KiB on `/login` and 64 KiB elsewhere (413): the largest form, a
 *   listener's switches, is under 1 KiB;
 * - at most 64 connections, and short timeouts for sockets that send nothing, so idle sockets
 *   cannot take the process's descriptors from the SMTP listeners.
 *
 * And the security headers of every answer (hono's secure-headers, with the CSP the pages need).
 */
import type { IncomingMessage, Server, ServerOptions, ServerResponse } from 'node:http';
import { isIP, type Socket } from 'node:net';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { secureHeaders } from 'hono/secure-headers';
import { parseHostPort } from '../protocol/host-port.js';

export const CONSOLE_LIMITS = {
  maxConnections: 64,
  loginBodyBytes: 8 * 1024,
  bodyBytes: 64 * 1024,
  /** Until a request's headers are in (node:http `headersTimeout`). */
  headersTimeoutMs: 10_000,
  /** Until a whole request, body included, is in (`requestTimeout`). */
  requestTimeoutMs: 30_000,
  /** Between answered requests on a kept-alive connection (`keepAliveTimeout`; node adds 1 s). */
  keepAliveTimeoutMs: 5_000,
  /** A socket with no traffic and no request being answered is closed (a page may take longer: a probe). */
  idleTimeoutMs: 10_000,
  /** For the TLS handshake on an HTTPS console. */
  handshakeTimeoutMs: 10_000,
  /** How often node checks the header and request timeouts. */
  checkIntervalMs: 1_000,
} as const;

export interface ConsoleAddress {
  /** As configured: an IP address, a wildcard address or a name. */
  readonly listenHost: string;
  readonly hostname: string;
  readonly secure: boolean;
}

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

/** May a request with this `Host` header be answered? */
export function hostAllowed(header: string | undefined, at: ConsoleAddress): boolean {
  const parsed = parseHostPort(header ?? '', { defaultPort: at.secure ? 443 : 80 });
  if (parsed === undefined) return false;
  // The name is what a rebinding page forges; the port is the one the browser connected to.
  const host = parsed.host.toLowerCase().replace(/\.$/, '');
  if (host === 'localhost' || host === at.hostname.toLowerCase() || host === at.listenHost.toLowerCase()) return true;
  return isIP(host) !== 0 && WILDCARDS.has(at.listenHost);
}

export function hostCheck(at: ConsoleAddress): MiddlewareHandler {
  return async (c, next) => {
    if (hostAllowed(c.req.header('host'), at)) return next();
    return c.text('421 Misdirected Request: this console answers only to its own address, localhost and its hostname\n', 421);
  };
}

const tooLarge = (c: Context): Response => c.text('413 Content Too Large: request bodies are limited\n', 413);
const loginLimit = bodyLimit({ maxSize: CONSOLE_LIMITS.loginBodyBytes, onError: tooLarge });
const formLimit = bodyLimit({ maxSize: CONSOLE_LIMITS.bodyBytes, onError: tooLarge });

/** 8 KiB for the login form (before any session), 64 KiB for every other request. */
export const bodyLimits: MiddlewareHandler = (c, next) => (c.req.path === '/login' ? loginLimit : formLimit)(c, next);

/** The pages run only the console's own script and style; nothing frames them; nothing is cached. */
export const consoleHeaders: MiddlewareHandler[] = [
  secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'", 'data:'],
      frameAncestors: ["'none'"],
      formAction: ["'self'"],
    },
    xFrameOptions: 'DENY',
    // HSTS would make a browser refuse the self-signed certificate a console may use for good.
    strictTransportSecurity: false,
  }),
  async (c, next) => {
    await next();
    c.header('Cache-Control', 'no-store');
  },
];

/** node:http options for the console's listener (HTTPS takes them too). */
export const SERVER_OPTIONS: ServerOptions = {
  headersTimeout: CONSOLE_LIMITS.headersTimeoutMs,
  requestTimeout: CONSOLE_LIMITS.requestTimeoutMs,
  keepAliveTimeout: CONSOLE_LIMITS.keepAliveTimeoutMs,
  connectionsCheckingInterval: CONSOLE_LIMITS.checkIntervalMs,
};

type Listener = (req: IncomingMessage, res: ServerResponse) => unknown;

/**
 * Caps the listener's connections and closes sockets idle for `idleTimeoutMs` while no request on
 * them is being answered. Returns the request listener to give the server.
 */
export function boundSockets(server: Server, listener: Listener): Listener {
  server.maxConnections = CONSOLE_LIMITS.maxConnections;
  const answering = new WeakMap<Socket, number>();
  server.setTimeout(CONSOLE_LIMITS.idleTimeoutMs);
  // With a listener here node leaves the socket to us: a page still being made keeps it.
  server.on('timeout', (socket: Socket) => {
    if ((answering.get(socket) ?? 0) === 0) socket.destroy();
  });
  return (req, res) => {
    const socket = req.socket;
    answering.set(socket, (answering.get(socket) ?? 0) + 1);
    let done = false;
    const finished = (): void => {
      if (done) return;
      done = true;
      answering.set(socket, (answering.get(socket) ?? 1) - 1);
    };
    res.once('close', finished);
    return Promise.resolve(listener(req, res)).finally(finished);
  };
}
