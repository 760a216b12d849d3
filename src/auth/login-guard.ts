/**
 * Password guessing limits shared by SMTP AUTH and the console's login form: both check the same
 * users file, so one address gets one budget of `maxFailures` failures within the window, whichever
 * door it knocks on.
 *
 * An attempt is reserved (counted as a failure) in one synchronous step before any password is
 * hashed, and given back only on success, so attempts racing in parallel cannot all get through.
 * IPv4 clients are counted per address, IPv6 clients per /64 (one subscriber's LAN: an IPv6 host
 * can take a fresh address for every attempt). The table is bounded: when it is full, expired
 * records go first, then the least recently tried one; never everyone's at once.
 *
 * At most `maxParallelChecks` scrypt hashes run at once: they share libuv's thread pool with the
 * spool's file I/O, which a login flood must not starve.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { Clock } from '../time/clock.js';

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

export interface LoginGuardOptions {
  readonly maxFailures: number;
  readonly failureWindowMs: number;
  readonly maxParallelChecks: number;
  readonly clock: Clock;
  /** How many client records are kept at most (memory is bounded whatever clients do). */
  readonly maxTracked?: number;
}

/** A reserved attempt: a failure unless `forgive` is called. */
export interface Reservation {
  /** The attempt succeeded (or failed for a reason not the client's): it no longer counts. */
  forgive(): void;
}

const MAX_TRACKED = 10_000;

/** The key failures are counted under: the IPv4 address (also when IPv4-mapped), or the IPv6 /64. */
export function clientKey(ip: string): string {
  const v4 = ip.toLowerCase().startsWith('::ffff:') && isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
  if (!isIPv6(v4)) return v4;
  // The first four groups of the address written out; "::" stands for the missing zero groups.
  const [head = '', tail] = v4.toLowerCase().split('%')[0]?.split('::') ?? [];
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

export class LoginGuard {
  readonly #o: LoginGuardOptions;
  /** Failure times per client key, least recently tried first (each attempt moves its key to the end). */
  readonly #failures = new Map<string, number[]>();
  readonly #hashing: Semaphore;

  constructor(options: LoginGuardOptions) {
    this.#o = options;
    this.#hashing = new Semaphore(options.maxParallelChecks);
  }

  get windowMs(): number {
    return this.#o.failureWindowMs;
  }

  /** Failures of this client within the window (reserved attempts included). */
  failures(ip: string): number {
    return this.#recent(clientKey(ip), this.#o.clock.now().getTime()).length;
  }

  /** Reserves an attempt for this client, or undefined when it has failed too often already. */
  reserve(ip: string): Reservation | undefined {
    const key = clientKey(ip);
    const now = this.#o.clock.now().getTime();
    const recent = this.#recent(key, now);
    this.#failures.delete(key);
    if (recent.length >= this.#o.maxFailures) {
      // Still trying: its record moves to the back, last in line to make room.
      if (recent.length > 0) this.#failures.set(key, recent);
      return undefined;
    }
    this.#makeRoom(now);
    this.#failures.set(key, [...recent, now]);
    let forgiven = false;
    return {
      forgive: () => {
        if (forgiven) return;
        forgiven = true;
        const list = this.#failures.get(key);
        const i = list?.indexOf(now) ?? -1;
        if (list !== undefined && i >= 0) list.splice(i, 1);
        if (list?.length === 0) this.#failures.delete(key);
      },
    };
  }

  /** Runs a password check when a hashing slot is free. */
  check<T>(verify: () => Promise<T>): Promise<T> {
    return this.#hashing.run(verify);
  }

  /** How many clients have a record (tests). */
  get tracked(): number {
    return this.#failures.size;
  }

  #recent(key: string, now: number): number[] {
    return (this.#failures.get(key) ?? []).filter((t) => now - t < this.#o.failureWindowMs);
  }

  /** Expired records sit at the front (least recently tried): they go first, then the oldest live one. */
  #makeRoom(now: number): void {
    const max = this.#o.maxTracked ?? MAX_TRACKED;
    for (const [key, times] of this.#failures) {
      const last = times[times.length - 1] ?? 0;
      if (this.#failures.size < max && now - last < this.#o.failureWindowMs) return;
      this.#failures.delete(key);
    }
  }
}
