/**
 * The one clock Barge reads time from and arms its timers on (RFC 5321 4.5.3.2: the server's idle
 * timeouts, the client's connect and reply timeouts; the retry schedule; timestamps in logs and
 * records): the real one, or a test's virtual clock, so a test of a default timeout of minutes takes
 * no minutes.
 */
export interface TimerHandle {
  cancel(): void;
  /** Starts the same wait again from now (activity on an idle timer): cheaper than a new timer. */
  restart(): void;
}

export interface Clock {
  /** The current time. */
  now(): Date;
  /** Calls `fire` once after `ms` milliseconds; the timer does not keep the process alive (unref'd). */
  after(ms: number, fire: () => void): TimerHandle;
}

/** Unref'd: an open socket keeps the process alive, a timer alone does not. */
export const realClock: Clock = {
  now: () => new Date(),
  after: (ms, fire) => {
    const timer = setTimeout(fire, ms).unref();
    return { cancel: () => clearTimeout(timer), restart: () => void timer.refresh() };
  },
};
