/**
 * Checks AUTH credentials for the connection shell: the user file is read on each attempt (so
 * `barge user add` needs no restart), and failures are counted per client IP. After `maxFailures`
 * within the window, further attempts from that IP get 454 4.7.0 without a password check, which
 * makes guessing slow without locking the account itself out (RFC 4954 4 lets a server refuse).
 *
 * The count is checked and a failure reserved in one synchronous step before any password is
 * hashed, and given back only on success, so attempts racing in parallel cannot all get through.
 * At most `maxParallelChecks` scrypt hashes run at once: they share libuv's thread pool with the
 * spool's file I/O, which an AUTH flood must not starve.
 */
import { Reply } from '../protocol/replies.js';
import { UserStore } from '../auth/users.js';

export type AuthOutcome = { readonly user: string } | { readonly refuse: Reply };

export interface AuthenticatorOptions {
  readonly usersFile: string;
  readonly maxFailures: number;
  readonly failureWindowMs: number;
  readonly maxParallelChecks: number;
  readonly now: () => Date;
  /** Told about each failure and each time an IP is held back, for the operator. */
  readonly warn: (line: string) => void;
}

/** A counting semaphore: `run` waits for one of `size` slots. */
export class Semaphore {
  #free: number;
  readonly #waiting: Array<() => void> = [];

  constructor(size: number) {
    this.#free = size;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next !== undefined) next();
      else this.#free++;
    }
  }
}

export class Authenticator {
  readonly #o: AuthenticatorOptions;
  /** Failure times per client IP (attempts in progress count as failures until they succeed). */
  readonly #failures = new Map<string, number[]>();
  readonly #hashing: Semaphore;
  #store: UserStore | undefined;

  constructor(options: AuthenticatorOptions) {
    this.#o = options;
    this.#hashing = new Semaphore(options.maxParallelChecks);
  }

  async check(clientIp: string, user: string, password: string): Promise<AuthOutcome> {
    const now = this.#o.now().getTime();
    const recent = (this.#failures.get(clientIp) ?? []).filter((t) => now - t < this.#o.failureWindowMs);
    if (recent.length >= this.#o.maxFailures) {
      this.#failures.set(clientIp, recent);
      this.#o.warn(`barge: AUTH from ${clientIp} refused: ${recent.length} failures in the last ${Math.round(this.#o.failureWindowMs / 1000)} s`);
      return { refuse: Reply.authRateLimited() };
    }
    recent.push(now);
    this.#failures.set(clientIp, recent);
    const outcome = await this.#verify(user, password);
    if (outcome === 'failed') {
      this.#o.warn(`barge: AUTH failed for ${JSON.stringify(user.slice(0, 100))} from ${clientIp}`);
      return { refuse: Reply.authFailed() };
    }
    // Success, or the user file could not be read (not the client's failure).
    this.#forgive(clientIp, now);
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
    const entry = await this.#hashing.run(() => store.verify(user, password));
    return entry === undefined ? 'failed' : { user: entry.name };
  }

  /** Takes back the failure reserved for an attempt that succeeded. */
  #forgive(clientIp: string, at: number): void {
    const list = this.#failures.get(clientIp);
    const i = list?.indexOf(at) ?? -1;
    if (list !== undefined && i >= 0) list.splice(i, 1);
    if (list !== undefined && list.length === 0) this.#failures.delete(clientIp);
  }

  /** Submission: may `user` (authenticated moments ago) send as `address`? */
  mayUseSender(user: string, address: string): boolean {
    return this.#store?.mayUseSender(user, address) ?? false;
  }
}
