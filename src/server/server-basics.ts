/** What every part of the running server is built from: the configuration (at start and live), time, tracking, the spool. */
import type { Config } from '../config/types.js';
import type { TrackingEvent } from '../log/tracking.js';
import type { BugReporter } from '../log/bug.js';
import type { IdSource } from '../message/queue-id.js';
import type { Spool } from '../queue/spool.js';
import type { Clock } from '../time/clock.js';

export interface ServerBasics {
  /** The configuration at start: what only a restart changes comes from it. */
  readonly config: Config;
  /** The live configuration (reload replaces it). */
  readonly current: () => Config;
  /** Time and the idle timeouts' timers (a test's virtual clock, or the real one). */
  readonly clock: Clock;
  readonly track: (event: TrackingEvent) => void;
  /** Reports a bug caught by an error boundary: a `bug` tracking event and the stack on stderr. */
  readonly bug: BugReporter;
  readonly spool: Spool;
  readonly nextId: IdSource;
}
