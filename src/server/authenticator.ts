/**
 * Checks AUTH credentials for the connection shell: the user file is read on each attempt (so
 * `barge user add` needs no restart), and failures are counted per client IP (IPv6: per /64). After
 * `maxFailures` within the window, further attempts from there get 454 4.7.0 without a password check, which
 * makes guessing slow without locking the account itself out (RFC 4954 4 lets a server refuse).
 *
 * The limit and the bound on parallel scrypt checks are the shared login guard's
 * (auth/login-guard.ts): the console's login form spends the same budget.
 */
import { Reply } from '../protocol/replies.js';
import { UserStore } from '../auth/users.js';
import type { LoginGuard } from '../auth/login-guard.js';

export type AuthOutcome = { readonly user: string } | { readonly refuse: Reply };

export interface AuthenticatorOptions {
  readonly usersFile: string;
  readonly guard: LoginGuard;
  /** Told about each failure and each time an IP is held back, for the operator. */
  readonly warn: (line: string) => void;
}

export class Authenticator {
  readonly #o: AuthenticatorOptions;
  #store: UserStore | undefined;

  constructor(options: AuthenticatorOptions) {
    this.#o = options;
  }

  async check(clientIp: string, user: string, password: string): Promise<AuthOutcome> {
    const attempt = this.#o.guard.reserve(clientIp);
    if (attempt === undefined) {
      const window = Math.round(this.#o.guard.windowMs / 1000);
      this.#o.warn(`barge: AUTH from ${clientIp} refused: ${this.#o.guard.failures(clientIp)} failures in the last ${window} s`);
      return { refuse: Reply.authRateLimited() };
    }
    const outcome = await this.#verify(user, password);
    if (outcome === 'failed') {
      this.#o.warn(`barge: AUTH failed for ${JSON.stringify(user.slice(0, 100))} from ${clientIp}`);
      return { refuse: Reply.authFailed() };
    }
    // Success, or the user file could not be read (not the client's failure).
    attempt.forgive();
    return outcome;
  }

  async #verify(user: string, password: string): Promise<AuthOutcome | 'failed'> {
    let store: UserStore;
    try {
      store = await UserStore.load(this.#o.usersFile);
    } catch (e) {
      this.#o.warn(`barge: cannot read ${this.#o.usersFile}: ${e instanceof Error ? e.message : String(e)}`);
      return { refuse: Reply.authUnavailable() };
    }
    this.#store = store;
    const entry = await this.#o.guard.check(() => store.verify(user, password));
    return entry === undefined ? 'failed' : { user: entry.name };
  }

  /** Submission: may `user` (authenticated moments ago) send as `address`? */
  mayUseSender(user: string, address: string): boolean {
    return this.#store?.mayUseSender(user, address) ?? false;
  }
}
