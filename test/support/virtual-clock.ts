/** A virtual clock for Barge's time and timers: time moves only when a test advances it. */
import { realClock, type Clock, type TimerHandle } from '../../src/time/clock.js';

interface Pending {
  at: number;
  readonly ms: number;
  readonly fire: () => void;
  live: boolean;
  cancelled: boolean;
}

export class VirtualClock implements Clock {
  #t = Date.now();
  #pending: Pending[] = [];

  // Arrow fields, so `clock.now` passed on its own still reads this clock.
  readonly now = (): Date => new Date(this.#t);

  readonly after = (ms: number, fire: () => void): TimerHandle => {
    const timer: Pending = { at: this.#t + ms, ms, fire, live: true, cancelled: false };
    this.#pending.push(timer);
    const cancel = (): void => {
      timer.live = false;
      timer.cancelled = true;
    };
    // As Node's timeout.refresh(): a timer that has fired starts again; a cancelled one stays cancelled.
    const restart = (): void => {
      if (timer.cancelled) return;
      timer.at = this.#t + timer.ms;
      if (timer.live) return;
      timer.live = true;
      this.#pending.push(timer);
    };
    return { cancel, restart };
  };

  /** Timers armed and not yet fired or cancelled. */
  get armed(): number {
    return this.#pending.filter((p) => p.live).length;
  }

  /** Moves time on, firing every timer that falls due, in time order. */
  advance(ms: number): void {
    this.#t += ms;
    const due = this.#pending.filter((p) => p.live && p.at <= this.#t).sort((a, b) => a.at - b.at);
    this.#pending = this.#pending.filter((p) => p.live && p.at > this.#t);
    for (const p of due) {
      p.live = false;
      p.fire();
    }
  }
}

/** A clock that reads `now` (a test's fixed or hand-set time), with the real timers. */
export function clockAt(now: () => Date): Clock {
  return { now, after: realClock.after };
}
