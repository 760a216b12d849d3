/**
 * The connection shell: one socket <-> one ServerSession. It performs the session's actions:
 * replies (all replies produced by one read go out in one write, with TCP_NODELAY, so a pipelining
 * client never waits on Nagle + delayed ACK), reply flow control (the socket is not read while
 * more than REPLY_BACKLOG octets of replies wait for a client that does not read them), spool files
 * (the socket is paused while the file is behind and while a message is being made durable), logs,
 * timeouts (RFC 5321 4.5.3.2).
 *
 * The message itself (spool writer, commit, tracking) is an InboundMessage; the reasons the socket
 * is paused, and the bytes read meanwhile, are its ReadGate.
 *
 * TLS: after the session's `starttls` action the 220 goes out in clear text, then the same socket is
 * wrapped in a server TLSSocket and the session is told once the handshake is done. On an implicit
 * TLS listener the handshake comes first and the greeting follows it (RFC 8314 3.3).
 */
import type { Socket } from 'node:net';
import { ServerSession, type SessionAction, type TransferMethod } from '../protocol/server-session.js';
import type { Transaction } from '../protocol/envelope.js';
import { Reply } from '../protocol/replies.js';
import type { SaslMechanism } from '../protocol/sasl.js';
import { paceRead } from './read-pacer.js';
import { type Hold, ReadGate } from './read-gate.js';
import { type CommandRecord, commandRecord } from './command-log.js';
import { serverTls } from './server-tls.js';
import { sessionOptions } from './session-options.js';
import { IdleTimeout } from './idle-timeout.js';
import { type CommitOutcome, InboundMessage, type SessionFacts } from './inbound-message.js';
import type { ConnectionContext } from './connection-context.js';

/** Unsent reply octets above which the socket is no longer read (Postfix and Exim block on write here). */
const REPLY_BACKLOG = 64 * 1024;

export class Connection {
  /** The plain socket, then the TLSSocket wrapping it after STARTTLS. */
  #socket: Socket;
  readonly #ctx: ConnectionContext;
  readonly #session: ServerSession;
  readonly #clientIp: string;
  #message: InboundMessage | undefined;
  #out: string[] = [];
  readonly #gate = new ReadGate(() => this.#socket);
  #readStarted = Date.now();
  /** The command or data-block timeout. */
  readonly #idle: IdleTimeout;
  #shuttingDown = false;
  #inputEnded = false;
  readonly #closed: Promise<void>;

  constructor(socket: Socket, clientIp: string, ctx: ConnectionContext) {
    this.#socket = socket;
    this.#ctx = ctx;
    this.#clientIp = clientIp;
    this.#idle = new IdleTimeout(ctx.timers, () => this.#timedOut());
    const tls = ctx.tls === undefined ? 'off' : ctx.listener.tls;
    this.#session = new ServerSession(sessionOptions(ctx, clientIp, tls));
    socket.setNoDelay(true);
    this.#closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => socket.destroy());
    socket.once('close', () => {
      this.#idle.close();
      this.#dropMessage('connection closed');
    });
    if (tls === 'implicit') this.#startTls(() => this.#perform(this.#session.greet()));
    else {
      this.#attach(socket);
      this.#perform(this.#session.greet());
    }
  }

  #attach(socket: Socket): void {
    socket.on('data', (bytes: Buffer) => {
      paceRead(bytes.length);
      this.#readStarted = Date.now();
      this.#gate.push(bytes);
      this.#feed();
    });
    // Clients such as Exim pipeline QUIT and half-close (shutdown SHUT_WR) before reading the replies;
    // the listener allows half-open sockets so the replies still go out once the message is durable.
    socket.once('end', () => {
      this.#inputEnded = true;
      this.#endIfIdle();
    });
    // A socket handed over paused (after its PROXY header) flows from here; what came with the header is read first.
    socket.resume();
  }

  /** Hands read bytes to the session while nothing holds the connection; command input in slices. */
  #feed(): void {
    for (let bytes = this.#gate.take(this.#session.inBody); bytes !== undefined; bytes = this.#gate.take(this.#session.inBody)) {
      this.#perform(this.#session.receive(bytes));
    }
    this.#endIfIdle();
  }

  /** Wraps the socket in TLS; the session goes on once the handshake is done. */
  #startTls(secured: () => void): void {
    const credentials = this.#ctx.tls;
    if (credentials === undefined) return void this.#socket.destroy();
    this.#socket = serverTls(this.#socket, credentials.context, this.#ctx.config.limits.commandTimeoutMs, (secure) => {
      this.#attach(secure);
      secured();
    });
  }

  /** Reply octets written but not yet taken by the kernel (bounded by the flow control). */
  get unsentReplyBytes(): number {
    return this.#socket.writableLength;
  }

  /** Resolves when the socket has closed. */
  get closed(): Promise<void> {
    return this.#closed;
  }

  /**
   * Graceful stop: a message being made durable finishes and gets its reply first; anything else in
   * flight is abandoned and the client told 421 4.3.2 (RFC 5321 3.8), so it will retry later.
   */
  shutdown(): void {
    this.#shuttingDown = true;
    if (!this.#gate.has('commit')) this.#perform(this.#session.abort(Reply.shuttingDown()));
  }

  #perform(actions: SessionAction[]): void {
    let close = false;
    let starttls = false;
    for (const action of actions) {
      switch (action.kind) {
        case 'send':
          this.#out.push(action.text);
          if (action.answered !== undefined) this.#logCommand(commandRecord(action.answered, action.code), action.text.length);
          break;
        case 'begin':
          this.#begin(action.transaction, action.method);
          break;
        case 'body':
          this.#writeBody(action.bytes);
          break;
        case 'discard':
          this.#dropMessage(action.reason ?? 'discarded');
          break;
        case 'commit':
          this.#commit(action.message.chunks, action.message.size);
          break;
        case 'etrn':
          this.#ctx.etrn(action.domain);
          break;
        case 'starttls':
          starttls = true;
          break;
        case 'auth':
          this.#authenticate(action.mechanism, action.user, action.password);
          break;
        case 'close':
          close = true;
          break;
        default: {
          const never: never = action;
          throw new Error(`unhandled session action ${JSON.stringify(never)}`);
        }
      }
    }
    // RFC 2920 3.2: replies go out before the server waits for input. While a message is made durable
    // it waits for the disk, so the MAIL and RCPT replies pipelined before it go out with its own.
    const committing = this.#gate.has('commit') && !close;
    if (this.#out.length > 0 && !committing && !this.#socket.destroyed) {
      this.#socket.write(this.#out.join(''));
      this.#out = [];
      if (this.#socket.writableLength > REPLY_BACKLOG && !this.#gate.has('replies')) {
        this.#gate.hold('replies');
        this.#socket.once('drain', () => this.#release('replies'));
      }
    }
    const log = this.#ctx.protocolLog;
    if (log?.congested === true && !this.#gate.has('log')) {
      this.#gate.hold('log');
      log.onDrain(() => this.#release('log'));
    }
    if (close) this.#socket.end();
    else if (starttls) {
      // Clear-text bytes after STARTTLS are never obeyed (CVE-2011-0411).
      this.#gate.discard();
      this.#startTls(() => this.#perform(this.#session.tlsStarted()));
    } else this.#armTimeout();
  }

  #authenticate(mechanism: SaslMechanism, user: string, password: string): void {
    this.#hold('auth');
    void this.#ctx.authenticate(this.#clientIp, user, password).then((outcome) => {
      this.#gate.unhold('auth');
      this.#perform(this.#session.authenticated(outcome, mechanism));
      this.#release();
      this.#endIfIdle();
    });
  }

  #armTimeout(): void {
    // No timeout while Barge itself is busy (#timedOut ignores it); the wait starts again when it is done.
    if (this.#gate.busy) return;
    const { limits } = this.#ctx.config;
    if (!this.#socket.destroyed) this.#idle.arm(this.#session.inBody ? limits.dataBlockTimeoutMs : limits.commandTimeoutMs);
  }

  #timedOut(): void {
    this.#idle.stop();
    // Held for Barge's own work (a commit, a check): the client is not the one being slow.
    if (this.#gate.busy || this.#socket.destroyed) return;
    const closedBefore = this.#session.closed;
    this.#perform(this.#session.abort(Reply.timeout()));
    // A client that never reads (its 421 cannot even reach the kernel's buffer), or never leaves
    // after the session ended, would keep its unsent replies and the socket for ever.
    if (closedBefore || this.#gate.has('replies') || this.#socket.writableLength > 0) this.#socket.destroy();
  }

  #facts(): SessionFacts {
    const s = this.#session;
    return { clientIp: this.#clientIp, helo: s.helo, esmtp: s.esmtp, tls: s.tls, user: s.user };
  }

  #begin(transaction: Transaction, method: TransferMethod): void {
    this.#message = new InboundMessage(this.#ctx, transaction, method, this.#facts());
  }

  #writeBody(bytes: Buffer): void {
    const message = this.#message;
    if (message === undefined) return;
    if (!message.write(bytes) && !this.#gate.has('drain')) {
      this.#hold('drain');
      message.onDrain(() => this.#release('drain'));
    }
  }

  #commit(chunks: number, size: number): void {
    const message = this.#message;
    this.#message = undefined;
    if (message === undefined) return;
    this.#hold('commit');
    void message.commit(chunks, size, this.#facts()).then((outcome) => this.#afterCommit(outcome));
  }

  #afterCommit(outcome: CommitOutcome): void {
    this.#gate.unhold('commit');
    this.#perform(this.#session.committed(outcome));
    if (this.#shuttingDown) this.#perform(this.#session.abort(Reply.shuttingDown()));
    this.#release();
    this.#endIfIdle();
  }

  /** After the client's half-close, ends our side once nothing is left to answer. */
  #endIfIdle(): void {
    if (!this.#inputEnded || this.#gate.hasUnread || this.#gate.has('commit') || this.#gate.has('auth')) return;
    this.#dropMessage('connection closed mid-message');
    if (!this.#socket.destroyed) this.#socket.end();
  }

  #dropMessage(reason: string): void {
    const message = this.#message;
    if (message === undefined) return;
    this.#message = undefined;
    message.drop(this.#clientIp, reason);
    this.#release('drain');
  }

  /** The idle timer keeps running (one timer per connection, not one per message): see #timedOut. */
  #hold(reason: Hold): void {
    this.#gate.hold(reason);
  }

  #release(reason?: Hold): void {
    if (this.#gate.release(reason)) {
      this.#armTimeout();
      // After the action being performed now, so replies keep their order.
      queueMicrotask(() => this.#feed());
    }
  }

  #logCommand(record: CommandRecord, bytesSent: number): void {
    const now = this.#ctx.now();
    this.#ctx.protocolLog?.write({
      time: now,
      clientIp: this.#clientIp,
      // The classic log's cs-username: the authenticated user once there is one, else the HELO name.
      username: this.#session.user ?? (this.#session.helo || undefined),
      serverIp: this.#socket.localAddress,
      serverPort: this.#socket.localPort,
      method: record.method,
      query: record.query,
      status: record.status,
      bytesSent,
      timeTakenMs: Math.max(0, now.getTime() - this.#readStarted),
    });
  }
}
