/**
 * A connection's replies: gathered while one read is handled and written together (with TCP_NODELAY
 * a pipelining client never waits on Nagle + delayed ACK), each logged in the W3C protocol log as
 * it is made, and the reply flow control: the connection is not read while more than REPLY_BACKLOG
 * octets of replies wait for a client that does not read them, nor while the log is behind the disk.
 */
import type { Socket } from 'node:net';
import type { W3cLog } from '../log/w3c.js';
import type { Clock } from '../time/clock.js';
import type { SessionAction } from '../protocol/server-session.js';
import { commandRecord } from './command-log.js';
import type { ReadGate } from './read-gate.js';

/** Unsent reply octets above which the socket is no longer read (Postfix and Exim block on write here). */
const REPLY_BACKLOG = 64 * 1024;

export interface ReplyWriterOptions {
  /** The socket now (the plain one, then the TLSSocket after STARTTLS). */
  readonly socket: () => Socket;
  readonly gate: ReadGate;
  readonly log: W3cLog | undefined;
  readonly clock: Clock;
  readonly clientIp: string;
  /** The classic log's cs-username: the authenticated user once there is one, else the HELO name. */
  readonly username: () => string | undefined;
  /** A hold of the gate ended (the client read its replies, the log drained). */
  readonly released: (hold: 'replies' | 'log') => void;
}

export class ReplyWriter {
  readonly #o: ReplyWriterOptions;
  #out: string[] = [];
  /** When the read being answered arrived (the log's time-taken). */
  #readStarted: number;

  constructor(options: ReplyWriterOptions) {
    this.#o = options;
    this.#readStarted = options.clock.now().getTime();
  }

  /** A read arrived: the replies to it are timed from now. */
  readArrived(): void {
    this.#readStarted = this.#o.clock.now().getTime();
  }

  /** Queues one reply (logged now, written at the next flush). */
  add(send: Extract<SessionAction, { kind: 'send' }>): void {
    this.#out.push(send.text);
    if (send.answered === undefined) return;
    const record = commandRecord(send.answered, send.code);
    const now = this.#o.clock.now();
    const socket = this.#o.socket();
    this.#o.log?.write({
      time: now,
      clientIp: this.#o.clientIp,
      username: this.#o.username(),
      serverIp: socket.localAddress,
      serverPort: socket.localPort,
      method: record.method,
      query: record.query,
      status: record.status,
      bytesSent: send.text.length,
      timeTakenMs: Math.max(0, now.getTime() - this.#readStarted),
    });
  }

  /** Writes the gathered replies (when `write`), then holds the gate while the client or the log is behind. */
  flush(write: boolean): void {
    const socket = this.#o.socket();
    const gate = this.#o.gate;
    if (write && this.#out.length > 0 && !socket.destroyed) {
      socket.write(this.#out.join(''));
      this.#out = [];
      if (socket.writableLength > REPLY_BACKLOG && !gate.has('replies')) {
        gate.hold('replies');
        socket.once('drain', () => this.#o.released('replies'));
      }
    }
    const log = this.#o.log;
    if (log?.congested === true && !gate.has('log')) {
      gate.hold('log');
      log.onDrain(() => this.#o.released('log'));
    }
  }
}
