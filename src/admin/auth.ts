/**
 * Console logins: admin users from the users file (scrypt, auth/users.ts), a one-time setup link
 * for a fresh install, and cookie sessions with a CSRF token each. Sessions live in memory: a
 * restart logs everyone out, which is the safe direction.
 *
 * A session is checked against the users file on every request (a stat, the file is read again
 * only when it changed): a removed or demoted administrator loses access at once, and a password
 * change ends the user's sessions begun under the old password. A session ends after 8 h unused
 * and 12 h after its login whatever its use. Failed logins spend the budget SMTP AUTH spends
 * (auth/login-guard.ts), reserved before the password is hashed. The setup link and its session
 * work only while no administrator exists.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { LoginGuard } from '../auth/login-guard.js';
import type { Clock } from '../time/clock.js';
import { UserFile, usersPath, type UserStore } from '../auth/users.js';

export interface AdminSession {
  readonly user: string;
  readonly csrf: string;
  /** Came in by the setup link: no user behind it, valid only while no administrator exists. */
  readonly setup: boolean;
}

interface SessionRecord extends AdminSession {
  /** The user's password hash at login (a new salt each change): another one ends the session. */
  passwordHash: string;
  idleUntil: number;
  readonly endsAt: number;
}

export interface AdminAuthOptions {
  readonly dataDir: string;
  readonly clock: Clock;
  readonly guard: LoginGuard;
}

export type LoginResult = { readonly session: string } | { readonly refused: 'limited' | 'wrong' };

/** Idle time after which a session ends. */
export const SESSION_IDLE_MS = 8 * 3_600_000;
/** Time after login at which a session ends, however busy. */
export const SESSION_LIFETIME_MS = 12 * 3_600_000;
/** Bounds memory whatever a client does. */
const MAX_SESSIONS = 1000;
const SETUP_LIFETIME_MS = 24 * 3_600_000;
const SETUP_USER = 'setup';

export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const token = (): string => randomBytes(32).toString('base64url');
const hasAdmin = (users: UserStore): boolean => users.list().some((u) => u.admin === true);

export class AdminAuth {
  readonly #o: AdminAuthOptions;
  readonly #users: UserFile;
  readonly #sessions = new Map<string, SessionRecord>();
  #setup: { token: string; expires: number } | undefined;

  constructor(options: AdminAuthOptions) {
    this.#o = options;
    this.#users = new UserFile(usersPath(options.dataDir));
  }

  /** A one-time token for the setup link, made only while no admin user exists. */
  async setupToken(): Promise<string | undefined> {
    if (hasAdmin(await this.#users.current())) return undefined;
    this.#setup = { token: token(), expires: this.#now() + SETUP_LIFETIME_MS };
    return this.#setup.token;
  }

  /** Spends the setup token: a session for "setup", who should add a real admin at once. */
  async useSetup(candidate: string): Promise<string | undefined> {
    const setup = this.#setup;
    if (setup === undefined || setup.expires < this.#now() || !sameSecret(candidate, setup.token)) return undefined;
    this.#setup = undefined;
    // An administrator added since the link was printed (`barge user add --admin`) retires it.
    if (hasAdmin(await this.#users.current())) return undefined;
    return this.#open(SETUP_USER, true, '');
  }

  async login(ip: string, name: string, password: string): Promise<LoginResult> {
    // Reserved before the first await: parallel attempts from one address see each other.
    const attempt = this.#o.guard.reserve(ip);
    if (attempt === undefined) return { refused: 'limited' };
    let users: UserStore;
    try {
      users = await this.#users.current();
    } catch (e) {
      attempt.forgive(); // an unreadable users file is not the client's failure
      throw e;
    }
    const entry = await this.#o.guard.check(() => users.verify(name, password));
    if (entry?.admin !== true) return { refused: 'wrong' };
    attempt.forgive();
    return { session: this.#open(entry.name, false, entry.hash) };
  }

  /** The session behind a cookie, if it is still good; each use restarts its idle time. */
  async session(id: string | undefined): Promise<AdminSession | undefined> {
    if (id === undefined) return undefined;
    const s = this.#sessions.get(id);
    if (s === undefined) return undefined;
    const now = this.#now();
    if (s.idleUntil < now || s.endsAt < now || !this.#stillAllowed(s, await this.#users.current())) {
      this.#sessions.delete(id);
      return undefined;
    }
    s.idleUntil = now + SESSION_IDLE_MS;
    return s;
  }

  /** Keeps this session after its own user's password change (other sessions of the user end). */
  async keepAfterPasswordChange(session: AdminSession): Promise<void> {
    const entry = session.setup ? undefined : (await this.#users.current()).get(session.user);
    for (const s of this.#sessions.values()) if (s === session && entry !== undefined) s.passwordHash = entry.hash;
  }

  logout(id: string | undefined): void {
    if (id !== undefined) this.#sessions.delete(id);
  }

  #stillAllowed(s: SessionRecord, users: UserStore): boolean {
    if (s.setup) return !hasAdmin(users);
    const entry = users.get(s.user);
    return entry?.admin === true && entry.hash === s.passwordHash;
  }

  #now(): number {
    return this.#o.clock.now().getTime();
  }

  #open(user: string, setup: boolean, passwordHash: string): string {
    if (this.#sessions.size >= MAX_SESSIONS) {
      // The oldest session (first inserted) makes room.
      const first = this.#sessions.keys().next();
      if (first.done !== true) this.#sessions.delete(first.value);
    }
    const id = token();
    const now = this.#now();
    this.#sessions.set(id, {
      user,
      setup,
      csrf: token(),
      passwordHash,
      idleUntil: now + SESSION_IDLE_MS,
      endsAt: now + SESSION_LIFETIME_MS,
    });
    return id;
  }
}
