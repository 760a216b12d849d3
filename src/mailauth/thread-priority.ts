/**
 * The check worker's thread lowers its own scheduling priority a little, so that when the machine's
 * cores are all busy the thread serving the sessions runs first and hashing a message waits (on a
 * machine that is not overloaded the checks take the same time). On Linux each thread has a nice
 * value of its own: setpriority(2) with a thread id (which /proc/thread-self names) changes that
 * thread alone. Elsewhere nothing changes.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

/** The check worker's nice value: weighted about a third of the sessions' thread at 0 (CFS weights 335 and 1024). */
const CHECK_NICE = 5;

/** Lowers the calling thread's priority to CHECK_NICE where the system allows it. */
export function lowerThreadPriority(): void {
  try {
    const tid = Number(/task\/(\d+)$/.exec(readlinkSync('/proc/thread-self'))?.[1]);
    if (tid > 0) setPriority(tid, CHECK_NICE);
  } catch {
    // No /proc, or not allowed: the thread keeps the process's priority.
  }
}
