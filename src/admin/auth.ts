/**
 * Console logins: admin users from the users file (scrypt, auth/users.ts), a one-time setup link
 * for a fresh install, cookie sessions with a CSRF token each, and a per-address limit on failed
 * logins. Sessions live in memory: a restart logs everyone out, which is the safe direction.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { UserStore, usersPath } from '../auth/users.js';

export interface AdminSession {
  readonly user: string;
  readonly csrf: string;
  expires: number;
}

export interface AdminAuthOptions {
  readonly dataDir: string;
  readonly now: () => Date;
  /** Failed logins from one address within the window before logins are refused for a while. */
  readonly maxFailures: number;
  readonly failureWindowMs: number;
}

/** Idle time after which a session ends. */
const SESSION_IDLE_MS = 8 * 3_600_000;
/** Bounds memory whatever a client does. */
const MAX_SESSIONS = 1000;
const MAX_TRACKED_ADDRESSES = 10_000;
const SETUP_LIFETIME_MS = 24 * 3_600_000;

export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const token = (): string => randomBytes(32).toString('base64url');

export class AdminAuth {
  readonly #o: AdminAuthOptions;
  readonly #sessions = new Map<string, AdminSession>();
  readonly #failures = new Map<string, number[]>();
  #setup: { token: string; expires: number } | undefined;

  constructor(options: AdminAuthOptions) {
    this.#o = options;
  }

  /** A one-time token for the setup link, made only while no admin user exists. */
  async setupToken(): Promise<string | undefined> {
    const users = await UserStore.load(usersPath(this.#o.dataDir));
    if (users.list().some((u) => u.admin === true)) return undefined;
    this.#setup = { token: token(), expires: this.#o.now().getTime() + SETUP_LIFETIME_MS };
    return this.#setup.token;
  }

  /** Spends the setup token: a session for "setup", who should add a real admin at once. */
  useSetup(candidate: string): string | undefined {
    const setup = this.#setup;
    if (setup === undefined || setup.expires < this.#o.now().getTime() || !sameSecret(candidate, setup.token)) return undefined;
    this.#setup = undefined;
    return this.#open('setup');
  }

  /** True while this address has failed too often; such attempts are not even checked. */
  limited(ip: string): boolean {
    return this.#recent(ip).length >= this.#o.maxFailures;
  }

  async login(ip: string, name: string, password: string): Promise<string | undefined> {
    if (this.limited(ip)) return undefined;
    const users = await UserStore.load(usersPath(this.#o.dataDir));
    const entry = await users.verify(name, password);
    if (entry?.admin !== true) {
      if (this.#failures.size >= MAX_TRACKED_ADDRESSES) this.#failures.clear();
      this.#failures.set(ip, [...this.#recent(ip), this.#o.now().getTime()]);
      return undefined;
    }
    this.#failures.delete(ip);
    return this.#open(entry.name);
  }

  session(id: string | undefined): AdminSession | undefined {
    if (id === undefined) return undefined;
    const s = this.#sessions.get(id);
    const now = this.#o.now().getTime();
    if (s === undefined || s.expires < now) {
      if (s !== undefined) this.#sessions.delete(id);
      return undefined;
    }
    s.expires = now + SESSION_IDLE_MS;
    return s;
  }

  logout(id: string | undefined): void {
    if (id !== undefined) this.#sessions.delete(id);
  }

  #recent(ip: string): number[] {
    const since = this.#o.now().getTime() - this.#o.failureWindowMs;
    return (this.#failures.get(ip) ?? []).filter((t) => t > since);
  }

  #open(user: string): string {
    if (this.#sessions.size >= MAX_SESSIONS) {
      // The oldest session (first inserted) makes room.
      const first = this.#sessions.keys().next();
      if (first.done !== true) this.#sessions.delete(first.value);
    }
    const id = token();
    this.#sessions.set(id, { user, csrf: token(), expires: this.#o.now().getTime() + SESSION_IDLE_MS });
    return id;
  }
}
