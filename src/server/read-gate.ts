/**
 * When a connection reads. The socket is paused while any reason holds it (a message being made
 * durable, its spool file behind, an AUTH check, a client not reading its replies, a protocol log
 * behind the disk), and bytes already read wait here until none is left. Command input is handed
 * over in slices, so one read cannot produce a flood of replies.
 */
import type { Socket } from 'node:net';

/**
 * 'replies': the client is not reading its replies; 'log': the protocol log is behind the disk (a
 * client flooding commands is slowed to the log's pace). The command timeout still runs for both:
 * a stalled log disk must not hold connections for ever.
 */
export type Hold = 'commit' | 'drain' | 'auth' | 'replies' | 'log';

/** Command input goes to the session in slices this big. */
const COMMAND_SLICE = 4096;

export class ReadGate {
  /** The socket now (the plain one, then the TLSSocket wrapping it after STARTTLS). */
  readonly #socket: () => Socket;
  /** Reasons the socket is paused; it resumes when none is left. */
  readonly #holds = new Set<Hold>();
  /** Bytes read from the socket and not yet given to the session. */
  #unread: Buffer[] = [];

  constructor(socket: () => Socket) {
    this.#socket = socket;
  }

  has(reason: Hold): boolean {
    return this.#holds.has(reason);
  }

  /** Whether Barge itself is busy (committing, waiting for the disk); a client that does not read its replies is not Barge being busy. */
  get busy(): boolean {
    for (const h of this.#holds) if (h !== 'replies' && h !== 'log') return true;
    return false;
  }

  get hasUnread(): boolean {
    return this.#unread.length > 0;
  }

  hold(reason: Hold): void {
    this.#holds.add(reason);
    this.#socket().pause();
  }

  /** Drops a reason without resuming the socket (the caller resumes it after acting). */
  unhold(reason: Hold): void {
    this.#holds.delete(reason);
  }

  /** Drops a reason; true when none is left and the socket has resumed. */
  release(reason?: Hold): boolean {
    if (reason !== undefined) this.#holds.delete(reason);
    if (this.#holds.size > 0 || this.#socket().destroyed) return false;
    this.#socket().resume();
    return true;
  }

  push(bytes: Buffer): void {
    this.#unread.push(bytes);
  }

  /** Forgets what was read and not yet handed over. */
  discard(): void {
    this.#unread = [];
  }

  /** The next bytes for the session, or undefined while held or when nothing waits; a body goes in whole reads. */
  take(inBody: boolean): Buffer | undefined {
    if (this.#holds.size > 0 || this.#socket().destroyed) return undefined;
    const next = this.#unread[0];
    if (next === undefined) return undefined;
    const take = inBody ? next.length : Math.min(next.length, COMMAND_SLICE);
    if (take === next.length) this.#unread.shift();
    else this.#unread[0] = next.subarray(take);
    return next.subarray(0, take);
  }
}
