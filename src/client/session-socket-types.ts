/** What the client session's socket shell (session-socket.ts) is given and gives back. */
import type { ClientOutcome, ClientSessionOptions, Stage } from '../protocol/client-types.js';
import type { Clock } from '../time/clock.js';
import type { ChunkTiming } from './bdat-health.js';
import type { ReplyTimeouts } from './decisions.js';

/** One transaction's outcome with the timed answers of its BDAT chunks (none for DATA). */
export interface Transfer {
  readonly outcome: ClientOutcome;
  readonly chunks: readonly ChunkTiming[];
  /** Why the transfer was stopped from outside, when it was. */
  readonly stopped?: string;
}

/** Registers a transfer that may be stopped until its LAST chunk; returns the function that unregisters it. */
export type Stoppable = (stop: (reason: string) => void) => () => void;

export interface SessionSocketOptions {
  readonly host: string;
  readonly port: number;
  readonly connectTimeoutMs: number;
  readonly timeouts: ReplyTimeouts;
  readonly session: ClientSessionOptions;
  /** The name the certificate must carry under required TLS (the MX or smart host name). */
  readonly servername?: string;
  /** Trust anchors for required TLS instead of the system's. */
  readonly ca?: readonly string[];
  readonly log?: (direction: 'command' | 'response', text: string) => void;
  /** Chunk timings, and what the connect and reply timeouts run on (the real clock when unset). */
  readonly clock?: Clock;
  /** TCP is connected (the greeting is awaited next). */
  readonly onConnect?: () => void;
  /** Told of a throw in Barge's own code that ended this session (its error boundary). */
  readonly bug?: (error: unknown) => void;
  /**
   * Tests only: called with each read of the peer's replies before the session reads it; a throw
   * stands for Barge's own bug. Only code that builds the delivery context can set it.
   */
  readonly fault?: (replies: string) => void;
}

const STAGES: ReadonlySet<string> = new Set(['EHLO', 'HELO', 'STARTTLS', 'AUTH', 'MAIL', 'RCPT', 'DATA', 'BDAT', 'RSET', 'QUIT']);

function isStage(verb: string): verb is Stage {
  return STAGES.has(verb);
}

/** The stage a logged command line starts ("MAIL FROM:<a@b>" is MAIL), if it is one. */
export function stageOfCommand(line: string): Stage | undefined {
  const space = line.indexOf(' ');
  const verb = (space < 0 ? line : line.slice(0, space)).toUpperCase();
  return isStage(verb) ? verb : undefined;
}

/** What opening a session gave: the session (`S`), whether TCP connected, and `ready` or why not. */
export interface OpenedSession<S> {
  readonly socket: S;
  /** Whether TCP connected at all (a server may simply not be running). */
  readonly connected: boolean;
  /** Why not, in short ("ECONNREFUSED", "no connection within 10000 ms"). */
  readonly error?: string;
  /** `ready`, or why the session could not start. */
  readonly outcome: ClientOutcome;
}
