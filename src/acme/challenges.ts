/**
 * The HTTP-01 responder (RFC 8555 8.3): on `[acme] http_listen` it answers
 * `GET /.well-known/acme-challenge/<token>` with the key authorization of a challenge being
 * validated, and 404 to everything else. It listens for as long as the server runs, so a port that
 * cannot be bound shows at start, not at the first renewal. Bounded, since anyone may connect: few
 * connections, small headers, short timeouts, no bodies read.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { HostPort } from '../config/types.js';

export const CHALLENGE_LIMITS = {
  maxConnections: 32,
  /** Bytes of request line and headers (node:http `maxHeaderSize`). */
  maxHeaderBytes: 4096,
  /** Until a request's headers are in, and until it is whole. */
  requestTimeoutMs: 10_000,
  /** Between requests on a kept-alive connection (node adds 1 s). */
  keepAliveTimeoutMs: 5_000,
  /** A socket with no traffic is closed. */
  idleTimeoutMs: 10_000,
  /** Challenges waiting at once (one per name of an order). */
  maxTokens: 100,
} as const;

const PATH = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]{1,256})$/;

export class ChallengeResponder {
  readonly #server: Server;
  readonly #answers = new Map<string, string>();
  #port = 0;

  private constructor() {
    this.#server = createServer({
      maxHeaderSize: CHALLENGE_LIMITS.maxHeaderBytes,
      headersTimeout: CHALLENGE_LIMITS.requestTimeoutMs,
      requestTimeout: CHALLENGE_LIMITS.requestTimeoutMs,
      keepAliveTimeout: CHALLENGE_LIMITS.keepAliveTimeoutMs,
      connectionsCheckingInterval: 1_000,
    });
    this.#server.maxConnections = CHALLENGE_LIMITS.maxConnections;
    this.#server.setTimeout(CHALLENGE_LIMITS.idleTimeoutMs, (socket) => socket.destroy());
    this.#server.on('request', (req: IncomingMessage, res: ServerResponse) => answer(this.#answers, req, res));
  }

  /** Binds `at`; rejects when the address cannot be bound (port 80 needs the privilege to bind it). */
  static async listen(at: HostPort): Promise<ChallengeResponder> {
    const responder = new ChallengeResponder();
    const server = responder.#server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) => reject(new Error(`[acme] http_listen ${at.host}:${at.port}: ${e.message}`)));
      server.listen(at.port, at.host, () => resolve());
    });
    server.on('error', () => undefined);
    const bound = server.address();
    responder.#port = typeof bound === 'object' && bound !== null ? bound.port : at.port;
    return responder;
  }

  /** The bound port (useful when the configured one was 0). */
  get port(): number {
    return this.#port;
  }

  /** Answers `token` with `keyAuthorization` until removed. */
  set(token: string, keyAuthorization: string): void {
    if (this.#answers.size >= CHALLENGE_LIMITS.maxTokens && !this.#answers.has(token)) throw new Error('too many ACME challenges at once');
    this.#answers.set(token, keyAuthorization);
  }

  remove(token: string): void {
    this.#answers.delete(token);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}

function answer(answers: ReadonlyMap<string, string>, req: IncomingMessage, res: ServerResponse): void {
  const token = PATH.exec(req.url ?? '')?.[1];
  const body = token === undefined || (req.method !== 'GET' && req.method !== 'HEAD') ? undefined : answers.get(token);
  // No body is read: a request that sends one has its connection closed after the answer.
  if (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined) res.shouldKeepAlive = false;
  res.writeHead(body === undefined ? 404 : 200, {
    'Content-Type': 'text/plain',
    'Content-Length': Buffer.byteLength(body ?? 'not found\n'),
  });
  res.end(req.method === 'HEAD' ? undefined : (body ?? 'not found\n'));
}
