/**
 * Checks AUTH credentials for the connection shell: the user file is read on each attempt (so
 * `barge user add` needs no restart), and failures are counted per client IP. After `maxFailures`
 * within the window, further attempts from that IP get 454 4.7.0 without a password check, which
 * makes guessing slow without locking the account itself out (RFC 4954 4 lets a server refuse).
 */
import { Reply } from '../protocol/replies.js';
import { UserStore } from '../auth/users.js';

export type AuthOutcome = { readonly user: string } | { readonly refuse: Reply };

export interface AuthenticatorOptions {
  readonly usersFile: string;
  readonly maxFailures: number;
  readonly failureWindowMs: number;
  readonly now: () => Date;
  /** Told about each failure and each time an IP is held back, for the operator. */
  readonly warn: (line: string) => void;
}

export class Authenticator {
  readonly #o: AuthenticatorOptions;
  /** Failure times per client IP, oldest first, pruned to the window. */
  readonly #failures = new Map<string, number[]>();
  #store: UserStore | undefined;

  constructor(options: AuthenticatorOptions) {
    this.#o = options;
  }

  async check(clientIp: string, user: string, password: string): Promise<AuthOutcome> {
    const now = this.#o.now().getTime();
    const recent = (this.#failures.get(clientIp) ?? []).filter((t) => now - t < this.#o.failureWindowMs);
    if (recent.length >= this.#o.maxFailures) {
      this.#o.warn(`barge: AUTH from ${clientIp} refused: ${recent.length} failures in the last ${Math.round(this.#o.failureWindowMs / 1000)} s`);
      return { refuse: Reply.authRateLimited() };
    }
    let store: UserStore;
    try {
      store = await UserStore.load(this.#o.usersFile);
    } catch (e) {
      this.#o.warn(`barge: cannot read ${this.#o.usersFile}: ${e instanceof Error ? e.message : String(e)}`);
      return { refuse: Reply.authUnavailable() };
    }
    this.#store = store;
    const entry = await store.verify(user, password);
    if (entry !== undefined) return { user: entry.name };
    recent.push(now);
    this.#failures.set(clientIp, recent);
    this.#o.warn(`barge: AUTH failed for ${JSON.stringify(user.slice(0, 100))} from ${clientIp}`);
    return { refuse: Reply.authFailed() };
  }

  /** Submission: may `user` (authenticated moments ago) send as `address`? */
  mayUseSender(user: string, address: string): boolean {
    return this.#store?.mayUseSender(user, address) ?? false;
  }
}
