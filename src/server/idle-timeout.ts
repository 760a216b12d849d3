/**
 * A connection's idle timeout (RFC 5321 4.5.3.2): the command wait, or the data-block wait while a
 * body comes in. A message switches between the two twice, so each length keeps one timer for the
 * connection's life and is restarted rather than replaced; a timer that is not the one in use may
 * still fire, and is ignored.
 */
import type { Clock, TimerHandle } from '../time/clock.js';

export class IdleTimeout {
  readonly #clock: Clock;
  readonly #expired: () => void;
  /** One timer per length used so far (the two configured lengths; more only after a reload). */
  readonly #waits = new Map<number, TimerHandle>();
  /** The length in use, 0 while none runs. */
  #current = 0;

  constructor(clock: Clock, expired: () => void) {
    this.#clock = clock;
    this.#expired = expired;
  }

  /** Starts the wait of `ms` from now, in place of any other. */
  arm(ms: number): void {
    this.#current = ms;
    const wait = this.#waits.get(ms);
    if (wait !== undefined) return wait.restart();
    this.#waits.set(
      ms,
      this.#clock.after(ms, () => {
        if (this.#current === ms) this.#expired();
      }),
    );
  }

  /** The wait in use now (its length) is over: it fired, or the connection is not waiting for the client. */
  stop(): void {
    this.#current = 0;
  }

  /** The connection closed: no timer is left behind. */
  close(): void {
    for (const wait of this.#waits.values()) wait.cancel();
    this.#waits.clear();
    this.#current = 0;
  }
}
