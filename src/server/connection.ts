/**
 * The connection shell: one socket <-> one ServerSession. It performs the session's actions: replies
 * (gathered per read, logged and flow-controlled by its ReplyWriter), the message (an InboundMessage:
 * spool writer, commit, tracking), timeouts (RFC 5321 4.5.3.2); the reasons the socket is paused,
 * and the bytes read meanwhile, are its ReadGate. After the session's `starttls` the 220 goes out in
 * clear text, then the socket is wrapped in TLS; on an implicit TLS listener the handshake comes
 * first (RFC 8314 3.3). Every way in runs through an error boundary (#safely, connection-boundary.ts).
 */
import type { Socket } from 'node:net';
import { ServerSession, type SessionAction, type TransferMethod } from '../protocol/server-session.js';
import type { Transaction } from '../protocol/envelope.js';
import { Reply } from '../protocol/replies.js';
import { type Hold, ReadGate } from './read-gate.js';
import { ReplyWriter } from './reply-writer.js';
import { serverTls } from './server-tls.js';
import { sessionOptions } from './session-options.js';
import { IdleTimeout } from './idle-timeout.js';
import { InboundMessage, type SessionFacts } from './inbound-message.js';
import type { ConnectionContext } from './connection-context.js';
import { afterFault, endAfterBug } from './connection-boundary.js';

export class Connection {
  /** The plain socket, then the TLSSocket wrapping it after STARTTLS. */
  #socket: Socket;
  readonly #ctx: ConnectionContext;
  readonly #session: ServerSession;
  readonly #clientIp: string;
  /** This connection's name in bug reports ("smtp/7"). */
  readonly #id: string;
  #message: InboundMessage | undefined;
  /** The message being made durable (between the session's commit and its reply). */
  #committing: InboundMessage | undefined;
  /** A bug ended this connection: nothing more is handed to the session. */
  #failed = false;
  readonly #gate = new ReadGate(() => this.#socket);
  readonly #replies: ReplyWriter;
  /** The command or data-block timeout. */
  readonly #idle: IdleTimeout;
  #shuttingDown = false;
  #inputEnded = false;
  readonly #closed: Promise<void>;

  constructor(socket: Socket, clientIp: string, ctx: ConnectionContext, id: string) {
    this.#socket = socket;
    this.#ctx = ctx;
    this.#clientIp = clientIp;
    this.#id = id;
    this.#idle = new IdleTimeout(ctx.clock, () => (this.#failed ? this.#socket.destroy() : this.#safely(() => this.#timedOut())));
    const tls = ctx.tls === undefined ? 'off' : ctx.listener.tls;
    this.#session = new ServerSession(sessionOptions(ctx, clientIp, tls));
    this.#replies = new ReplyWriter({
      socket: () => this.#socket,
      gate: this.#gate,
      log: ctx.protocolLog,
      clock: ctx.clock,
      clientIp,
      username: () => this.#session.user ?? (this.#session.helo || undefined),
      released: (hold) => this.#safely(() => this.#release(hold)),
    });
    socket.setNoDelay(true);
    this.#closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => socket.destroy());
    socket.once('close', () => {
      this.#idle.close();
      this.#safely(() => this.#dropMessage('connection closed'));
    });
    if (tls === 'implicit') this.#startTls(() => this.#perform(this.#session.greet()));
    else {
      this.#attach(socket);
      this.#safely(() => this.#perform(this.#session.greet()));
    }
  }

  #attach(socket: Socket): void {
    socket.on('data', (bytes: Buffer) => {
      // After a bug the client's bytes are read and dropped, so closing never resets away the 421.
      if (this.#failed) return;
      this.#ctx.paceRead(bytes.length);
      this.#replies.readArrived();
      this.#gate.push(bytes);
      this.#safely(() => this.#feed());
    });
    // Clients such as Exim pipeline QUIT and half-close (shutdown SHUT_WR) before reading the replies;
    // the listener allows half-open sockets so the replies still go out once the message is durable.
    socket.once('end', () => {
      this.#inputEnded = true;
      this.#safely(() => this.#endIfIdle());
    });
    // A socket handed over paused (after its PROXY header) flows from here; what came with the header is read first.
    socket.resume();
  }

  /** Hands read bytes to the session while nothing holds the connection; command input in slices. */
  #feed(): void {
    const fault = this.#ctx.fault;
    for (let bytes = this.#gate.take(this.#session.inBody); bytes !== undefined; bytes = this.#gate.take(this.#session.inBody)) {
      fault?.('command', bytes.toString('latin1'));
      this.#perform(this.#session.receive(bytes));
    }
    this.#endIfIdle();
  }

  /** Runs one way into the connection; a throw is a bug that ends this connection alone (#fail). */
  #safely(work: () => void): void {
    if (this.#failed) return;
    try {
      work();
    } catch (e) {
      this.#fail(e);
    }
  }

  /** Barge's own bug: this connection ends (connection-boundary.ts), nothing more reaches its session. */
  #fail(error: unknown): void {
    if (this.#failed) return;
    this.#failed = true;
    const open = [this.#message, this.#committing];
    this.#message = this.#committing = undefined;
    const parts = { gate: this.#gate, replies: this.#replies, socket: this.#socket, idle: this.#idle };
    endAfterBug(error, { ctx: this.#ctx, id: this.#id, clientIp: this.#clientIp, open, ...parts });
  }

  /** Wraps the socket in TLS; the session goes on once the handshake is done. */
  #startTls(secured: () => void): void {
    const credentials = this.#ctx.tls;
    if (credentials === undefined) return void this.#socket.destroy();
    this.#socket = serverTls(this.#socket, credentials, this.#ctx.config.limits.commandTimeoutMs, (secure) => {
      this.#attach(secure);
      this.#safely(secured);
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
    if (!this.#gate.has('commit')) this.#safely(() => this.#perform(this.#session.abort(Reply.shuttingDown())));
  }

  #perform(actions: SessionAction[]): void {
    let close = false;
    let starttls = false;
    for (const action of actions) {
      switch (action.kind) {
        case 'send':
          this.#replies.add(action);
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
        case 'auth': {
          const { mechanism, user, password } = action;
          this.#await('auth', this.#ctx.authenticate(this.#clientIp, user, password), (o) =>
            this.#perform(this.#session.authenticated(o, mechanism)),
          );
          break;
        }
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
    this.#replies.flush(!this.#gate.has('commit') || close);
    if (close) this.#socket.end();
    else if (starttls) {
      // Clear-text bytes after STARTTLS are never obeyed (CVE-2011-0411).
      this.#gate.discard();
      this.#startTls(() => this.#perform(this.#session.tlsStarted()));
    } else this.#armTimeout();
  }

  /** Barge's own work the client waits for (an AUTH check, a commit): not read until it settles; a rejection is a bug. */
  #await<T>(hold: 'auth' | 'commit', work: Promise<T>, settled: (result: T) => void): void {
    this.#gate.hold(hold); // the idle timer keeps running (one per connection): see #timedOut
    const done = (result: T): void => {
      this.#gate.unhold(hold);
      settled(result);
      this.#release();
      this.#endIfIdle();
    };
    void work.then(
      (result) => this.#safely(() => done(result)),
      (e: unknown) => this.#fail(e),
    );
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
      this.#gate.hold('drain');
      message.onDrain(() => this.#safely(() => this.#release('drain')));
    }
  }

  #commit(chunks: number, size: number): void {
    const message = this.#message;
    this.#message = undefined;
    if (message === undefined) return;
    this.#committing = message;
    const facts = this.#facts();
    this.#await(
      'commit',
      afterFault(this.#ctx.fault, 'commit', () => message.commit(chunks, size, facts)),
      (outcome) => {
        // Durable or refused: a bug from here on must not discard it.
        this.#committing = undefined;
        this.#perform(this.#session.committed(outcome));
        if (this.#shuttingDown) this.#perform(this.#session.abort(Reply.shuttingDown()));
      },
    );
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

  #release(reason?: Hold): void {
    if (this.#gate.release(reason)) {
      this.#armTimeout();
      // After the action being performed now, so replies keep their order.
      queueMicrotask(() => this.#safely(() => this.#feed()));
    }
  }
}
