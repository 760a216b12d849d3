/**
 * Outbound session reuse and per-destination limits: after a transaction a connection is kept for
 * a short while and the next message to the same host and port reuses it (no new TCP, greeting or
 * EHLO); at most `perDestination` sessions run to one destination at once, others wait their turn.
 */
import { ClientConnection, type ConnectOptions } from './connection.js';
import { greet, type PeerCapabilities } from './transfer.js';
import { secureSession, type SessionSecurity } from './security.js';

export interface Session {
  readonly conn: ClientConnection;
  readonly caps: PeerCapabilities;
  /** True when this session already carried a transaction (it may have gone stale). */
  readonly reused: boolean;
  /** The name a certificate was verified for (tls "required"); only such a session serves a caller requiring that name. */
  readonly verified?: string;
}

interface Idle {
  readonly conn: ClientConnection;
  readonly caps: PeerCapabilities;
  readonly verified: string | undefined;
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
  readonly #active = new Map<string, number>();
  readonly #waiting = new Map<string, Array<() => void>>();
  #closed = false;

  constructor(options: PoolOptions) {
    this.#o = options;
  }

  /** A session to `options.host:port`: an idle one if there is one, else a new one once under the limit. */
  async acquire(options: ConnectOptions, fresh = false, security?: SessionSecurity): Promise<Session> {
    const key = `${options.host}:${options.port}`;
    while ((this.#active.get(key) ?? 0) >= this.#o.perDestination) {
      await new Promise<void>((resolve) => this.#waiting.set(key, [...(this.#waiting.get(key) ?? []), resolve]));
    }
    this.#active.set(key, (this.#active.get(key) ?? 0) + 1);
    // A session opened under opportunistic TLS never serves a caller requiring verified TLS (MTA-STS).
    const verified = security?.tls === 'required' ? security.servername.toLowerCase() : undefined;
    const list = this.#idle.get(key) ?? [];
    const at = fresh ? -1 : list.findLastIndex((x) => verified === undefined || x.verified === verified);
    const idle = at < 0 ? undefined : list.splice(at, 1)[0];
    if (idle !== undefined) {
      clearTimeout(idle.timer);
      return { conn: idle.conn, caps: idle.caps, reused: true, verified: idle.verified };
    }
    try {
      const conn = await ClientConnection.open(options);
      try {
        const caps = await greet(conn, this.#o.heloName);
        return { conn, caps: security === undefined ? caps : await secureSession(conn, caps, this.#o.heloName, security), reused: false, verified };
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
    const key = `${options.host}:${options.port}`;
    this.#leave(key);
    if (!healthy || this.#closed) {
      void session.conn.quit();
      return;
    }
    const entry: Idle = {
      conn: session.conn,
      caps: session.caps,
      verified: session.verified,
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
