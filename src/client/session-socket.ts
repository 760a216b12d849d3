/**
 * The socket shell of the client session (protocol/client-session.ts): it connects, performs the
 * session's actions (writes, STARTTLS, streaming the content through a ContentPump, close), feeds it
 * the reply bytes, and keeps one timer armed for the reply awaited (its length by the reply's class,
 * decisions.ts). Every outcome is typed; nothing here throws for a peer. It times each BDAT chunk's
 * answer (bdat-health.ts) and lets a transfer be stopped until its LAST chunk goes out (in-flight.ts).
 * Every way in runs through #safely: a throw is Barge's bug, reported, the transaction gets a
 * `localFailure` (deferred, never bounced) and the connection is closed and never reused.
 */
import { connect, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { ClientSession } from '../protocol/client-session.js';
import type { ClientAction, ClientMessage, ClientOutcome, PeerCapabilities, Stage, TransactionOptions } from '../protocol/client-types.js';
import { realClock, type Clock, type TimerHandle } from '../time/clock.js';
import { replyTimeout } from './decisions.js';
import { ChunkTimer } from './bdat-health.js';
import { upgrade, type TlsDetails } from './starttls.js';
import { ContentPump, type ContentSink } from './content-pump.js';
import { bugReason } from '../log/bug.js';
import { type OpenedSession, type SessionSocketOptions, type Stoppable, stageOfCommand, type Transfer } from './session-socket-types.js';

export type { SessionSocketOptions, Stoppable, TlsDetails, Transfer };

export type Opened = OpenedSession<SessionSocket>;

export class SessionSocket {
  readonly #o: SessionSocketOptions;
  readonly #clock: Clock;
  readonly #session: ClientSession;
  #socket: Socket;
  #timer: TimerHandle | undefined;
  #waiter: ((o: ClientOutcome) => void) | undefined;
  /** The content of the transaction under way. */
  #body: ContentPump | undefined;
  /** Chunks sent and not yet answered, oldest first; the answers of this transaction. */
  #chunks = new ChunkTimer();
  /** What ended the connection, for the answer of a chunk left unanswered. */
  #lost: 'timeout' | 'closed' = 'closed';
  #leave: (() => void) | undefined;
  #stopped: string | undefined;
  #tls: TlsDetails | undefined;
  /** A bug ended this session: the session object is never called again. */
  #broken = false;
  /** The stage of the last command sent, for the outcome of a bug. */
  #stage: Stage = 'greeting';

  readonly #sink: ContentSink = {
    wantsBody: () => !this.#broken && this.#session.wantsBody,
    body: (chunk) => this.#safely(() => this.#perform(this.#session.body(chunk))),
    bodyEnd: () => this.#safely(() => this.#perform(this.#session.bodyEnd())),
    unreadable: (reason) => {
      // The connection cannot be reused.
      this.#safely(() => this.#perform([{ kind: 'outcome', outcome: { kind: 'localFailure', stage: 'DATA', reason } }]));
      this.destroy();
    },
    socket: () => this.#socket,
  };

  private constructor(socket: Socket, o: SessionSocketOptions) {
    this.#o = o;
    this.#clock = o.clock ?? realClock;
    this.#socket = socket;
    this.#session = new ClientSession(o.session);
    this.#attach(socket);
  }

  /** Connects and runs the session up to `ready` (greeting, EHLO, STARTTLS, AUTH) or its failure. */
  static async open(o: SessionSocketOptions): Promise<Opened> {
    const socket = connect({ host: o.host, port: o.port });
    socket.setNoDelay(true);
    const shell = new SessionSocket(socket, o);
    const outcome = shell.#next();
    let timer: TimerHandle | undefined;
    const failed = await new Promise<{ message: string; short: string } | undefined>((resolve) => {
      timer = (o.clock ?? realClock).after(o.connectTimeoutMs, () => {
        const message = `no connection within ${o.connectTimeoutMs} ms`;
        resolve({ message, short: message });
      });
      socket.once('connect', () => resolve(undefined));
      socket.once('error', (e: NodeJS.ErrnoException) => resolve({ message: e.message, short: e.code ?? e.message }));
    });
    timer?.cancel();
    if (failed !== undefined) {
      socket.destroy();
      return {
        socket: shell,
        connected: false,
        error: failed.short,
        outcome: { kind: 'connectionLost', stage: 'greeting', reason: `connect to ${o.host}:${o.port}: ${failed.message}` },
      };
    }
    o.onConnect?.();
    shell.#arm();
    return { socket: shell, connected: true, outcome: await outcome };
  }

  get closed(): boolean {
    return this.#broken || this.#session.closed;
  }

  get caps(): PeerCapabilities {
    return this.#session.caps;
  }

  /** The first EHLO's capabilities, before TLS. */
  get cleartextCaps(): PeerCapabilities | undefined {
    return this.#session.cleartextCaps;
  }

  /** Set once STARTTLS succeeded. */
  get tls(): TlsDetails | undefined {
    return this.#tls;
  }

  /** One scripted command (see ClientSession.ask): its `answer`, or why there is none. */
  ask(stage: Stage, line: string, payload?: Buffer): Promise<ClientOutcome> {
    const next = this.#next();
    this.#safely(() => this.#perform(this.#session.ask(stage, line, payload)));
    return next;
  }

  /** The address actually reached (loop detection). */
  get remoteAddress(): string {
    return this.#socket.remoteAddress ?? this.#o.host;
  }

  /**
   * One transaction; `open` gives the content (downconverted when `converted` is set). A `stoppable`
   * transfer may be stopped from outside until its LAST chunk goes out (the connection is closed).
   */
  async send(
    message: ClientMessage,
    open: (converted?: string) => Readable,
    options: TransactionOptions,
    stoppable?: Stoppable,
  ): Promise<Transfer> {
    this.#body = new ContentPump(open);
    this.#chunks = new ChunkTimer();
    this.#lost = 'closed';
    this.#stopped = undefined;
    this.#leave = stoppable?.((reason) => {
      this.#stopped ??= reason;
      this.#socket.destroy();
    });
    const next = this.#next();
    this.#safely(() => this.#perform(this.#session.send(message, options)));
    const outcome = await next;
    this.#unregister();
    return { outcome, chunks: this.#chunks.timings, ...(this.#stopped === undefined ? {} : { stopped: this.#stopped }) };
  }

  /** QUIT and wait for the close (bounded by the command timeout). */
  async quit(): Promise<void> {
    const gone = new Promise<void>((resolve) => this.#socket.once('close', () => resolve()));
    this.#safely(() => this.#perform(this.#session.quit()));
    if (this.#broken) this.#socket.destroy();
    if (!this.#socket.destroyed) await gone;
  }

  destroy(): void {
    this.#safely(() => this.#perform(this.#session.connectionClosed('closed by Barge')));
    this.#socket.destroy();
  }

  #next(): Promise<ClientOutcome> {
    return new Promise((resolve) => {
      this.#waiter = resolve;
    });
  }

  #attach(socket: Socket): void {
    const fault = this.#o.fault;
    socket.on('data', (bytes: Buffer) =>
      this.#safely(() => {
        fault?.(bytes.toString('latin1'));
        this.#perform(this.#session.receive(bytes));
      }),
    );
    socket.on('error', (e) => this.#safely(() => this.#perform(this.#session.connectionClosed(e.message))));
    socket.on('close', () => this.#safely(() => this.#perform(this.#session.connectionClosed())));
  }

  /** Runs one way into the shell; a throw is Barge's bug and ends this session (#crash). */
  #safely(work: () => void): void {
    if (this.#broken) return;
    try {
      work();
    } catch (e) {
      this.#crash(e);
    }
  }

  /** The transaction under way fails locally (deferred by the queue, never bounced for it); the connection closes. */
  #crash(error: unknown): void {
    this.#broken = true;
    this.#o.bug?.(error);
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#body?.stop();
    this.#body = undefined;
    this.#unregister();
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.({ kind: 'localFailure', stage: this.#stage, reason: bugReason(error) });
    this.#socket.destroy();
  }

  #unregister(): void {
    this.#leave?.();
    this.#leave = undefined;
  }

  #perform(actions: readonly ClientAction[]): void {
    for (const a of actions) {
      switch (a.kind) {
        case 'send':
          // Once LAST is out the peer may accept the message: stopping it then could duplicate it.
          if (a.lastChunk === true) this.#unregister();
          for (const line of a.log) {
            this.#stage = stageOfCommand(line) ?? this.#stage;
            this.#o.log?.('command', line);
          }
          if (!this.#socket.destroyed) this.#socket.write(a.bytes);
          break;
        case 'chunkSent':
          this.#chunks.sent(a, this.#clock.now().getTime());
          break;
        case 'chunkAnswered':
          this.#chunks.answered({ kind: 'reply', code: a.code }, this.#clock.now().getTime());
          break;
        case 'reply':
          this.#o.log?.('response', a.text);
          break;
        case 'startTls':
          this.#upgrade(a.verify);
          break;
        case 'openBody':
          void this.#body?.run(a.converted, this.#sink);
          break;
        case 'outcome': {
          // The oldest chunk left unanswered is the one the path failed on.
          this.#chunks.answered({ kind: this.#lost }, this.#clock.now().getTime());
          this.#body?.stop();
          this.#body = undefined;
          const w = this.#waiter;
          this.#waiter = undefined;
          w?.(a.outcome);
          break;
        }
        case 'close':
          this.#socket.destroy();
          break;
        default: {
          const never: never = a;
          return never;
        }
      }
    }
    this.#arm();
    this.#body?.wake();
  }

  /** One timer for the reply awaited, re-armed after every event; its length follows the reply's class. */
  #arm(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    const cls = this.#session.awaiting;
    if (cls === undefined) return;
    const ms = replyTimeout(cls, this.#o.timeouts);
    this.#timer = this.#clock.after(ms, () => {
      this.#lost = 'timeout';
      this.#safely(() => this.#perform(this.#session.timeout(`no reply within ${ms} ms`)));
    });
  }

  #upgrade(verify: boolean): void {
    const plain = this.#socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('error');
    plain.removeAllListeners('close');
    upgrade(plain, { servername: this.#o.servername ?? this.#o.host, verify, ca: this.#o.ca }, (result) => {
      if ('error' in result)
        return this.#safely(() => this.#perform(this.#session.tlsFailed(`TLS handshake with ${this.#o.host}: ${result.error}`)));
      if (this.#broken) return void result.socket.destroy();
      this.#socket = result.socket;
      this.#attach(result.socket);
      this.#tls = result.details;
      const { authorized, authorizationError } = result.details;
      this.#safely(() =>
        this.#perform(this.#session.tlsEstablished({ authorized, ...(authorizationError === undefined ? {} : { authorizationError }) })),
      );
    });
  }
}
