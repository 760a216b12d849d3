/**
 * The timers Barge's protocol timeouts run on (RFC 5321 4.5.3.2: the server's idle timeouts, the
 * client's connect and reply timeouts): the real ones, or a test's virtual clock, so a test of a
 * default timeout of minutes takes no minutes.
 */
export interface TimerHandle {
  cancel(): void;
  /** Starts the same wait again from now (activity on an idle timer): cheaper than a new timer. */
  restart(): void;
}

export type Timers = (fire: () => void, ms: number) => TimerHandle;

/** Unref'd: an open socket keeps the process alive, a timer alone does not. */
export const realTimers: Timers = (fire, ms) => {
  const timer = setTimeout(fire, ms).unref();
  return { cancel: () => clearTimeout(timer), restart: () => void timer.refresh() };
};
