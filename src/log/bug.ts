/**
 * Reports of Barge's own bugs: a throw caught by the error boundary of one inbound connection or
 * one outbound delivery. Each report is a `bug` event in the tracking log (with the stack) and the
 * stack on stderr, so a bug that cost one session is seen, not hidden by the boundary.
 *
 * Contract: neither `bugEvent` nor a reporter ever throws, whatever was thrown (an Error, a string,
 * an object whose `toString` throws): a boundary's report must not become a second bug.
 */
import type { TrackingEvent } from './tracking.js';

export type BugEvent = Extract<TrackingEvent, { event: 'bug' }>;
/** Where a bug was caught: an inbound connection (its id and client) or an outbound delivery. */
export type BugPlace = Omit<BugEvent, 'event' | 'message' | 'stack'>;
export type BugReporter = (error: unknown, place: BugPlace) => void;

export function bugEvent(error: unknown, place: BugPlace): BugEvent {
  return { event: 'bug', ...place, ...described(error) };
}

function described(error: unknown): { message: string; stack: string } {
  try {
    if (error instanceof Error) return { message: error.message, stack: error.stack ?? `${error.name}: ${error.message}` };
    const text = String(error);
    return { message: text, stack: text };
  } catch {
    return { message: 'a value that cannot be printed was thrown', stack: '' };
  }
}

/** The words a session's outcome carries when a bug ended it (queue states, DSN delay notices). */
export function bugReason(error: unknown): string {
  return `internal error in Barge (a bug, reported): ${described(error).message}`;
}

/** "inbound connection smtp/7 from 192.0.2.1", "outbound delivery of ID to HOST:PORT". */
export function placeOf(e: BugEvent): string {
  if (e.where === 'inbound') return `inbound connection ${e.connection ?? '?'} from ${e.clientIp ?? '?'}`;
  const id = e.id === undefined ? '' : ` of ${e.id}`;
  return `outbound delivery${id}${e.destination === undefined ? '' : ` to ${e.destination}`}`;
}

/** Tracks each bug and writes its stack to `write` (stderr for `barge serve`). */
export function bugReporter(track: (event: TrackingEvent) => void, write: (text: string) => void): BugReporter {
  return (error, place) => {
    const event = bugEvent(error, place);
    try {
      track(event);
      write(`barge: bug caught in the ${placeOf(event)} (that session alone ended): ${event.stack || event.message}\n`);
    } catch {
      // Tracking and stderr never throw in practice; the report is worth less than the server.
    }
  };
}
