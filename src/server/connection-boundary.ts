/**
 * The connection shell's error boundary, the parts that are not the shell's own state: how a
 * connection ends after a bug, and the test seam that makes one.
 *
 * The seam (`FaultHook`) exists only as an option of the server's code: no configuration key,
 * command-line flag, environment variable or SMTP command sets it, so only a test that starts the
 * server in its own process can make a connection fail; unset (always, in `barge serve`) it costs
 * one comparison per read.
 */
import type { Socket } from 'node:net';
import type { W3cLog } from '../log/w3c.js';
import { formatReply, Reply } from '../protocol/replies.js';
import type { IdleTimeout } from './idle-timeout.js';

/**
 * Called with each slice of input before the session reads it ('command'), and before a message is
 * made durable ('commit', inside the commit's promise chain): a throw stands for Barge's own bug.
 */
export type FaultHook = (point: 'command' | 'commit', input: string) => void;

/** `work()`, after the hook when there is one: the hook's throw becomes the promise's rejection. */
export function afterFault<T>(fault: FaultHook | undefined, point: 'commit', work: () => Promise<T>): Promise<T> {
  if (fault === undefined) return work();
  return Promise.resolve().then(() => {
    fault(point, '');
    return work();
  });
}

export interface BugClose {
  readonly socket: Socket;
  readonly enhancedCodes: boolean;
  readonly idle: IdleTimeout;
  readonly waitMs: number;
  readonly log: W3cLog | undefined;
  readonly clientIp: string;
  readonly now: Date;
}

/**
 * 421 4.3.0 and our half of the close. The client's further bytes are still read (and dropped by
 * the caller), so the close is not a reset that could destroy the 421 before the client reads it;
 * a client that never closes its half is cut off after `waitMs` by the idle timer.
 */
export function closeAfterBug(c: BugClose): void {
  if (c.socket.destroyed) return;
  const reply = Reply.internalError();
  c.socket.end(formatReply(reply, c.enhancedCodes));
  c.socket.resume();
  c.idle.arm(c.waitMs);
  const { localAddress: serverIp, localPort: serverPort } = c.socket;
  c.log?.write({ time: c.now, clientIp: c.clientIp, method: '-', status: reply.code, serverIp, serverPort });
}
