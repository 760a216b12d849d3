/**
 * Outbound session reuse and per-destination limits: after a transaction a connection is kept for
 * a short while and the next message to the same host and port reuses it (no new TCP, greeting or
 * EHLO), but only under the same security: the same TLS policy, certificate name and trust anchors,
 * and the same credentials (see poolKey). At most `perDestination` sessions run to one destination
 * (host and port) at once, whatever their security; others wait their turn.
 */
import { createHash } from 'node:crypto';
import { ClientConnection, type ConnectOptions } from './connection.js';
import { greet, type PeerCapabilities } from './transfer.js';
import { secureSession, type SessionSecurity } from './security.js';

export interface Session {
  readonly conn: ClientConnection;
  readonly caps: PeerCapabilities;
  /** True when this session already carried a transaction (it may have gone stale). */
  readonly reused: boolean;
}

interface Idle {
  readonly conn: ClientConnection;
  readonly caps: PeerCapabilities;
  readonly timer: NodeJS.Timeout;
}

export interface PoolOptions {
  readonly heloName: string;
  readonly perDestination: number;
  /** How long an idle session is kept (Postfix keeps 2 s by default; Barge 5 s). */
  readonly idleMs: number;
}

export class SessionPool {
  readonly #o: PoolOptions;
  readonly #idle = new Map<string, Idle[]>();
  /** The reuse key each open session was made under. */
  readonly #keys = new WeakMap<ClientConnection, string>();
  readonly #active = new Map<string, number>();
  readonly #waiting = new Map<string, Array<() => void>>();
  #closed = false;

  constructor(options: PoolOptions) {
    this.#o = options;
  }

  /** A session to `options.host:port`: an idle one if there is one, else a new one once under the limit. */
  async acquire(options: ConnectOptions, fresh = false, security?: SessionSecurity): Promise<Session> {
    const key = destinationOf(options);
    const reuseKey = poolKey(options, security);
    while ((this.#active.get(key) ?? 0) >= this.#o.perDestination) {
      await new Promise<void>((resolve) => this.#waiting.set(key, [...(this.#waiting.get(key) ?? []), resolve]));
    }
    this.#active.set(key, (this.#active.get(key) ?? 0) + 1);
    const idle = fresh ? undefined : this.#idle.get(reuseKey)?.pop();
    if (idle !== undefined) {
      clearTimeout(idle.timer);
      return { conn: idle.conn, caps: idle.caps, reused: true };
    }
    try {
      const conn = await ClientConnection.open(options);
      try {
        const caps = await greet(conn, this.#o.heloName);
        this.#keys.set(conn, reuseKey);
        return { conn, caps: security === undefined ? caps : await secureSession(conn, caps, this.#o.heloName, security), reused: false };
      } catch (e) {
        conn.destroy();
        throw e;
      }
    } catch (e) {
      this.#leave(key);
      throw e;
    }
  }

  /** Gives a session back after a complete transaction: kept for reuse, or closed. */
  release(options: ConnectOptions, session: Session, healthy: boolean): void {
    this.#leave(destinationOf(options));
    const key = this.#keys.get(session.conn);
    if (!healthy || this.#closed || key === undefined) {
      void session.conn.quit();
      return;
    }
    const entry: Idle = {
      conn: session.conn,
      caps: session.caps,
      timer: setTimeout(() => {
        this.#idle.set(key, (this.#idle.get(key) ?? []).filter((x) => x !== entry));
        void session.conn.quit();
      }, this.#o.idleMs),
    };
    entry.timer.unref();
    this.#idle.set(key, [...(this.#idle.get(key) ?? []), entry]);
  }

  /** Quits every idle session (at shutdown). */
  async close(): Promise<void> {
    this.#closed = true;
    const all = [...this.#idle.values()].flat();
    this.#idle.clear();
    for (const x of all) clearTimeout(x.timer);
    await Promise.all(all.map((x) => x.conn.quit()));
  }

  #leave(key: string): void {
    this.#active.set(key, Math.max(0, (this.#active.get(key) ?? 1) - 1));
    const next = this.#waiting.get(key)?.shift();
    next?.();
  }
}

function destinationOf(options: ConnectOptions): string {
  return `${options.host}:${options.port}`;
}

/**
 * What makes two sessions to one destination interchangeable: a session opened in clear text or with
 * an unchecked certificate must never carry mail whose route requires a verified one, and a session
 * authenticated as one user must never carry another route's mail. Credentials enter as a hash.
 */
export function poolKey(options: ConnectOptions, security: SessionSecurity | undefined): string {
  const s = security;
  const parts = s === undefined ? ['none'] : [
    s.tls, s.servername.toLowerCase(), s.skipTls === true ? 'skip-tls' : '', JSON.stringify(s.ca ?? []),
    JSON.stringify(s.auth === undefined ? null : [s.auth.username, s.auth.password, s.authTls ?? 'verified']),
  ];
  return `${destinationOf(options)} ${createHash('sha256').update(parts.join('\0')).digest('hex')}`;
}
