/**
 * Outbound session reuse and per-destination limits: after a transaction a connection is kept for
 * a short while and the next message to the same host and port reuses it (no new TCP, greeting or
 * EHLO), but only under the same security: the same TLS policy, certificate name and trust anchors,
 * and the same credentials (see poolKey). At most `perDestination` sessions run to one destination
 * (host and port) at once, whatever their security; others wait their turn.
 */
import type { Clock, TimerHandle } from '../time/clock.js';
import { createHash } from 'node:crypto';
import type { ClientOutcome, ClientSessionOptions, PeerCapabilities } from '../protocol/client-types.js';
import { SessionSocket } from './session-socket.js';
import type { ReplyTimeouts } from './decisions.js';

export type OutboundTls = 'opportunistic' | 'required' | 'none';

/**
 * How a fresh session is secured before any transaction: STARTTLS when the peer offers it and the
 * policy allows (RFC 3207; opportunistic per RFC 7435 does not check the certificate, "required"
 * does), then AUTH with the route's credentials (RFC 4954), only ever over TLS, by default only when
 * the certificate verified for the hop's name (`authTls` "verified"): opportunistic TLS with an
 * unchecked certificate cannot tell the smart host from a machine in the middle.
 */
export interface SessionSecurity {
  readonly tls: OutboundTls;
  /** The name the certificate must carry (the MX or smart host name). */
  readonly servername: string;
  readonly auth?: { readonly username: string; readonly password: string } | undefined;
  /** Send credentials only when the certificate verified ("verified", the default), or over any TLS ("any"). */
  readonly authTls?: 'verified' | 'any' | undefined;
  /** Trust anchors instead of the system's (a private CA). */
  readonly ca?: readonly string[] | undefined;
  /** An earlier handshake with this peer failed: opportunistic TLS is skipped (clear text). */
  readonly skipTls?: boolean;
}

export interface ConnectOptions {
  readonly host: string;
  readonly port: number;
  readonly connectTimeoutMs: number;
  readonly timeouts: ReplyTimeouts;
  readonly log?: (direction: 'command' | 'response', text: string) => void;
  /** Chunk timings, and what the connect and reply timeouts run on. */
  readonly clock?: Clock;
  /** Told of a bug that ended a session (its error boundary, session-socket.ts). */
  readonly bug?: (error: unknown) => void;
  /** Tests only: see SessionSocketOptions.fault. */
  readonly fault?: (replies: string) => void;
}

export interface Session {
  readonly socket: SessionSocket;
  readonly caps: PeerCapabilities;
  /** True when this session already carried a transaction (it may have gone stale). */
  readonly reused: boolean;
}

export type Acquired =
  | { readonly kind: 'session'; readonly session: Session }
  | { readonly kind: 'failed'; readonly outcome: ClientOutcome };

interface Idle {
  readonly socket: SessionSocket;
  readonly caps: PeerCapabilities;
  readonly timer: TimerHandle;
}

export interface PoolOptions {
  readonly heloName: string;
  readonly perDestination: number;
  /** How long an idle session is kept (Postfix keeps 2 s by default; Barge 5 s). */
  readonly idleMs: number;
  /** What the idle sessions' timers run on. */
  readonly clock: Clock;
}

export class SessionPool {
  readonly #o: PoolOptions;
  readonly #idle = new Map<string, Idle[]>();
  /** The reuse key each open session was made under. */
  readonly #keys = new WeakMap<SessionSocket, string>();
  readonly #active = new Map<string, number>();
  readonly #waiting = new Map<string, Array<() => void>>();
  #closed = false;

  constructor(options: PoolOptions) {
    this.#o = options;
  }

  /** A session to `options.host:port`: an idle one if there is one, else a new one once under the limit. */
  async acquire(options: ConnectOptions, fresh = false, security?: SessionSecurity): Promise<Acquired> {
    const key = destinationOf(options);
    const reuseKey = poolKey(options, security);
    while ((this.#active.get(key) ?? 0) >= this.#o.perDestination) {
      await new Promise<void>((resolve) => this.#waiting.set(key, [...(this.#waiting.get(key) ?? []), resolve]));
    }
    this.#active.set(key, (this.#active.get(key) ?? 0) + 1);
    const idle = fresh ? undefined : this.#takeIdle(reuseKey);
    if (idle !== undefined) return { kind: 'session', session: { socket: idle.socket, caps: idle.caps, reused: true } };
    const { socket, outcome } = await SessionSocket.open({
      host: options.host,
      port: options.port,
      connectTimeoutMs: options.connectTimeoutMs,
      timeouts: options.timeouts,
      session: sessionOptions(this.#o.heloName, security),
      ...(security === undefined ? {} : { servername: security.servername }),
      ...(security?.ca === undefined ? {} : { ca: security.ca }),
      ...(options.log === undefined ? {} : { log: options.log }),
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      ...(options.bug === undefined ? {} : { bug: options.bug }),
      ...(options.fault === undefined ? {} : { fault: options.fault }),
    });
    if (outcome.kind !== 'ready') {
      socket.destroy();
      this.#leave(key);
      return { kind: 'failed', outcome };
    }
    this.#keys.set(socket, reuseKey);
    return { kind: 'session', session: { socket, caps: outcome.caps, reused: false } };
  }

  /** Gives a session back after a complete transaction: kept for reuse, or closed. */
  release(options: ConnectOptions, session: Session, healthy: boolean): void {
    this.#leave(destinationOf(options));
    const key = this.#keys.get(session.socket);
    if (!healthy || this.#closed || key === undefined || session.socket.closed) {
      void session.socket.quit();
      return;
    }
    const entry: Idle = {
      socket: session.socket,
      caps: session.caps,
      timer: this.#o.clock.after(this.#o.idleMs, () => {
        this.#idle.set(
          key,
          (this.#idle.get(key) ?? []).filter((x) => x !== entry),
        );
        void session.socket.quit();
      }),
    };
    this.#idle.set(key, [...(this.#idle.get(key) ?? []), entry]);
  }

  /** The newest idle session still open (one the peer closed meanwhile is dropped). */
  #takeIdle(reuseKey: string): Idle | undefined {
    for (let idle = this.#idle.get(reuseKey)?.pop(); idle !== undefined; idle = this.#idle.get(reuseKey)?.pop()) {
      idle.timer.cancel();
      if (!idle.socket.closed) return idle;
    }
    return undefined;
  }

  /** Quits every idle session (at shutdown). */
  async close(): Promise<void> {
    this.#closed = true;
    const all = [...this.#idle.values()].flat();
    this.#idle.clear();
    for (const x of all) x.timer.cancel();
    await Promise.all(all.map((x) => x.socket.quit()));
  }

  #leave(key: string): void {
    this.#active.set(key, Math.max(0, (this.#active.get(key) ?? 1) - 1));
    const next = this.#waiting.get(key)?.shift();
    next?.();
  }
}

/** The session's part of the security: STARTTLS and AUTH as the route asks, TLS skipped after a failed handshake. */
function sessionOptions(heloName: string, s: SessionSecurity | undefined): ClientSessionOptions {
  if (s === undefined) return { heloName, tls: 'none' };
  const tls = s.skipTls === true && s.tls === 'opportunistic' ? 'none' : s.tls;
  return { heloName, tls, ...(s.auth === undefined ? {} : { auth: s.auth, authTls: s.authTls ?? 'verified' }) };
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
  const parts =
    s === undefined
      ? ['none']
      : [
          s.tls,
          s.servername.toLowerCase(),
          s.skipTls === true ? 'skip-tls' : '',
          JSON.stringify(s.ca ?? []),
          JSON.stringify(s.auth === undefined ? null : [s.auth.username, s.auth.password, s.authTls ?? 'verified']),
        ];
  return `${destinationOf(options)} ${createHash('sha256').update(parts.join('\0')).digest('hex')}`;
}
