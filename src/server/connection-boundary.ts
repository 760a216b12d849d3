/**
 * The connection shell's error boundary, the parts that are not the shell's own state: how a
 * connection ends after a bug, and the test seam that makes one.
 *
 * Every way into a connection (a read, a timer, a drain, a commit or AUTH check settling) runs
 * through the shell's #safely; a throw there, or a rejected commit, is Barge's bug and ends that
 * connection alone. The spool, the other sessions and the listener go on.
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
import type { Clock } from '../time/clock.js';
import type { BugPlace } from '../log/bug.js';
import type { InboundMessage } from './inbound-message.js';
import type { ReadGate } from './read-gate.js';
import type { ReplyWriter } from './reply-writer.js';

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

/**
 * 421 4.3.0 and our half of the close. The client's further bytes are still read (and dropped by
 * the caller), so the close is not a reset that could destroy the 421 before the client reads it;
 * a client that never closes its half is cut off after the command timeout by the idle timer.
 */
/** What the end needs of the connection's context (structurally its ConnectionContext). */
interface BugCloseContext {
  readonly listener: { readonly extensions: { has(name: 'ENHANCEDSTATUSCODES'): boolean } };
  readonly config: { readonly limits: { readonly commandTimeoutMs: number } };
  readonly protocolLog: W3cLog | undefined;
  readonly clock: Clock;
  readonly bug: (error: unknown, place: BugPlace) => void;
}

/** The parts of a failed connection its end touches. */
export interface FailedConnection {
  readonly ctx: BugCloseContext;
  readonly id: string;
  readonly clientIp: string;
  /** The messages in progress (being received, being made durable): discarded. */
  readonly open: ReadonlyArray<InboundMessage | undefined>;
  readonly gate: ReadGate;
  readonly replies: ReplyWriter;
  readonly socket: Socket;
  readonly idle: IdleTimeout;
}

/**
 * Barge's own bug: reported with its stack, the message in progress discarded, then 421 4.3.0 and
 * close (RFC 5321 3.8: the client treats its transaction as failed temporarily and tries again).
 * 421 in every state, a transaction's too: it is the one reply that says the channel is closing.
 */
export function endAfterBug(error: unknown, c: FailedConnection): void {
  c.ctx.bug(error, { where: 'inbound', connection: c.id, clientIp: c.clientIp });
  c.gate.discard();
  try {
    for (const message of c.open) message?.drop(c.clientIp, 'internal error (a bug, reported)');
    // Replies already made answer the commands before the failed one (pipelined MAIL and RCPT that
    // waited for a commit): they go out first, so the 421 answers the right command.
    c.replies.flush(true);
  } catch {
    // A second bug while cleaning up: the 421 and the close below still happen.
  }
  closeAfterBug(c.socket, c.ctx, c.idle, c.clientIp);
}

function closeAfterBug(socket: Socket, ctx: BugCloseContext, idle: IdleTimeout, clientIp: string): void {
  if (socket.destroyed) return;
  const reply = Reply.internalError();
  socket.end(formatReply(reply, ctx.listener.extensions.has('ENHANCEDSTATUSCODES')));
  socket.resume();
  idle.arm(ctx.config.limits.commandTimeoutMs);
  const { localAddress: serverIp, localPort: serverPort } = socket;
  ctx.protocolLog?.write({ time: ctx.clock.now(), clientIp, method: '-', status: reply.code, serverIp, serverPort });
}
