/**
 * The connection shell: one socket <-> one ServerSession. It performs the session's actions:
 * replies (all replies produced by one read go out in one write, with TCP_NODELAY, so a pipelining
 * client never waits on Nagle + delayed ACK), reply flow control (the socket is not read while
 * more than REPLY_BACKLOG octets of replies wait for a client that does not read them), spool files
 * (the socket is paused while the file is behind and while a message is being made durable), logs,
 * timeouts (RFC 5321 4.5.3.2).
 *
 * A message gets its 250 only after Spool.commit() resolves; a commit that fails answers 452 4.3.1.
 *
 * TLS: after the session's `starttls` action the 220 goes out in clear text, then the same socket is
 * wrapped in a server TLSSocket and the session is told once the handshake is done. On an implicit
 * TLS listener the handshake comes first and the greeting follows it (RFC 8314 3.3).
 */
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Config, ListenerConfig } from '../config/types.js';
import type { W3cLog } from '../log/w3c.js';
import type { TrackingEvent } from '../log/tracking.js';
import { ServerSession, type SessionAction, type TransferMethod } from '../protocol/server-session.js';
import type { Transaction } from '../protocol/envelope.js';
import { Reply } from '../protocol/replies.js';
import type { Spool, SpoolEnvelope, SpoolWriter } from '../queue/spool.js';
import type { IdSource } from '../queue/ids.js';
import { receivedHeader, receivedProtocol } from '../queue/received.js';
import type { RecipientVerdict } from '../protocol/server-session.js';
import type { SaslMechanism } from '../protocol/sasl.js';
import type { TlsCredentials } from './tls.js';
import { paceRead } from './read-pacer.js';
import type { AuthOutcome } from './authenticator.js';
import { MessageIdScanner } from '../protocol/message-id.js';
import { type CommandRecord, commandRecord } from './command-log.js';

/** What a connection needs from the running server. */
export interface ConnectionContext {
  readonly config: Config;
  readonly listener: ListenerConfig;
  readonly spool: Spool;
  readonly nextId: IdSource;
  readonly protocolLog: W3cLog | undefined;
  readonly track: (event: TrackingEvent) => void;
  readonly checkRecipient: (clientIp: string) => (address: string, user: string | undefined) => RecipientVerdict;
  /** Undefined when no listener uses TLS. */
  readonly tls: TlsCredentials | undefined;
  readonly authenticate: (clientIp: string, user: string, password: string) => Promise<AuthOutcome>;
  readonly mayUseSender: (user: string, address: string) => boolean;
  /** A message was committed: the queue runner should take it. */
  readonly queued: (id: string, envelope: SpoolEnvelope) => void;
  /** ETRN (RFC 1985): run the queue for a domain. */
  readonly etrn: (domain: string) => void;
  /** Whether this client may ETRN for a node now (policy and rate), else the 458 refusal. */
  readonly etrnPolicy: (clientIp: string) => (node: string, user: string | undefined) => Reply | undefined;
  readonly now: () => Date;
  /** Commits a message after the inbound checks (SPF, DKIM, DMARC); absent: a plain spool commit. */
  readonly screen?: (writer: SpoolWriter, envelope: Omit<SpoolEnvelope, 'messageLength'>, facts: ScreenFacts) => Promise<SpoolEnvelope | { readonly refuse: Reply }>;
}

export interface ScreenFacts {
  readonly clientIp: string;
  readonly helo: string;
  readonly from: string;
  readonly authenticated: boolean;
}

interface OpenMessage {
  readonly writer: SpoolWriter;
  readonly transaction: Transaction;
  readonly method: TransferMethod;
  /** Reads the Message-ID for the tracking log as the body passes. */
  readonly head: MessageIdScanner;
}

/**
 * 'replies': the client is not reading its replies; 'log': the protocol log is behind the disk (a
 * client flooding commands is slowed to the log's pace). The command timeout still runs for both:
 * a stalled log disk must not hold connections for ever.
 */
type Hold = 'commit' | 'drain' | 'auth' | 'replies' | 'log';

/** Unsent reply octets above which the socket is no longer read (Postfix and Exim block on write here). */
const REPLY_BACKLOG = 64 * 1024;
/** Command input goes to the session in slices this big, so one read cannot produce a flood of replies. */
const COMMAND_SLICE = 4096;

export class Connection {
  /** The plain socket, then the TLSSocket wrapping it after STARTTLS. */
  #socket: Socket;
  readonly #ctx: ConnectionContext;
  readonly #session: ServerSession;
  readonly #clientIp: string;
  #message: OpenMessage | undefined;
  #out: string[] = [];
  /** Bytes read from the socket and not yet given to the session (held back while the connection is held). */
  #unread: Buffer[] = [];
  /** Reasons the socket is paused; it resumes when none is left. */
  readonly #holds = new Set<Hold>();
  #readStarted = Date.now();
  #shuttingDown = false;
  #inputEnded = false;
  readonly #closed: Promise<void>;

  constructor(socket: Socket, clientIp: string, ctx: ConnectionContext) {
    this.#socket = socket;
    this.#ctx = ctx;
    this.#clientIp = clientIp;
    const { limits } = ctx.config;
    const { listener } = ctx;
    const tls = ctx.tls === undefined ? 'off' : listener.tls;
    this.#session = new ServerSession({
      hostname: ctx.config.hostname,
      clientIp,
      extensions: ctx.listener.extensions,
      maxMessageSize: limits.maxMessageSize,
      maxRecipients: limits.maxRecipients,
      maxErrors: limits.maxErrors,
      maxHops: limits.maxHops,
      maxJunkCommands: limits.maxJunkCommands,
      maxRecipientOvershoot: limits.maxRecipientOvershoot,
      postmaster: `postmaster@${ctx.config.localDomains[0] ?? ctx.config.hostname}`,
      etrnPolicy: ctx.etrnPolicy(clientIp),
      normaliseBareLineEndings: ctx.config.smuggling === 'normalise',
      vrfy: ctx.listener.vrfy,
      expn: ctx.listener.expn,
      checkRecipient: ctx.checkRecipient(clientIp),
      tls,
      auth: listener.auth,
      authCleartext: listener.authCleartext,
      ...(listener.senderLogin ? { checkSender: ctx.mayUseSender } : {}),
    });
    socket.setNoDelay(true);
    this.#closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => socket.destroy());
    socket.once('close', () => this.#dropMessage('connection closed'));
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
      this.#unread.push(bytes);
      this.#feed();
    });
    // Clients such as Exim pipeline QUIT and half-close (shutdown SHUT_WR) before reading the replies;
    // the listener allows half-open sockets so the replies still go out once the message is durable.
    socket.once('end', () => {
      this.#inputEnded = true;
      this.#endIfIdle();
    });
    socket.on('timeout', () => {
      const closedBefore = this.#session.closed;
      this.#perform(this.#session.abort(Reply.timeout()));
      // A client that never reads (its 421 cannot even reach the kernel's buffer), or never leaves
      // after the session ended, would keep its unsent replies and the socket for ever.
      if (closedBefore || this.#holds.has('replies') || this.#socket.writableLength > 0) this.#socket.destroy();
    });
  }

  /** Hands read bytes to the session while nothing holds the connection; command input in slices. */
  #feed(): void {
    while (this.#holds.size === 0 && !this.#socket.destroyed) {
      const next = this.#unread[0];
      if (next === undefined) break;
      const take = this.#session.inBody ? next.length : Math.min(next.length, COMMAND_SLICE);
      if (take === next.length) this.#unread.shift();
      else this.#unread[0] = next.subarray(take);
      this.#perform(this.#session.receive(next.subarray(0, take)));
    }
    this.#endIfIdle();
  }

  /**
   * Wraps the socket in TLS. The plain socket's readers are removed first, so nothing it received
   * after STARTTLS is ever handed to the session (the session dropped the rest of that read too).
   */
  #startTls(secured: () => void): void {
    const plain = this.#socket;
    const credentials = this.#ctx.tls;
    if (credentials === undefined) return void plain.destroy();
    plain.removeAllListeners('data');
    plain.removeAllListeners('end');
    plain.removeAllListeners('timeout');
    const secure = new TLSSocket(plain, { isServer: true, secureContext: credentials.context });
    this.#socket = secure;
    // Not paused: a paused TLSSocket would not read the handshake either.
    secure.setTimeout(this.#ctx.config.limits.commandTimeoutMs);
    secure.on('timeout', () => secure.destroy());
    secure.on('error', () => secure.destroy());
    // The plain socket's 'close' ends the connection; make sure it follows the TLS socket's.
    secure.once('close', () => plain.destroy());
    // A client that leaves during the handshake: nothing to answer, so no half-open wait.
    const leftEarly = (): void => void secure.destroy();
    secure.once('end', leftEarly);
    secure.once('secure', () => {
      secure.removeAllListeners('timeout');
      secure.off('end', leftEarly);
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
    if (!this.#holds.has('commit')) this.#perform(this.#session.abort(Reply.shuttingDown()));
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
    if (this.#out.length > 0 && !this.#socket.destroyed) {
      this.#socket.write(this.#out.join(''));
      this.#out = [];
      if (this.#socket.writableLength > REPLY_BACKLOG && !this.#holds.has('replies')) {
        this.#holds.add('replies');
        this.#socket.pause();
        this.#socket.once('drain', () => this.#release('replies'));
      }
    }
    const log = this.#ctx.protocolLog;
    if (log?.congested === true && !this.#holds.has('log')) {
      this.#holds.add('log');
      this.#socket.pause();
      log.onDrain(() => this.#release('log'));
    }
    if (close) this.#socket.end();
    else if (starttls) {
      // Clear-text bytes after STARTTLS are never obeyed (CVE-2011-0411).
      this.#unread = [];
      this.#startTls(() => this.#perform(this.#session.tlsStarted()));
    } else this.#armTimeout();
  }

  #authenticate(mechanism: SaslMechanism, user: string, password: string): void {
    this.#hold('auth');
    void this.#ctx.authenticate(this.#clientIp, user, password).then((outcome) => {
      this.#holds.delete('auth');
      this.#perform(this.#session.authenticated(outcome, mechanism));
      this.#release();
      this.#endIfIdle();
    });
  }

  #armTimeout(): void {
    const { limits } = this.#ctx.config;
    // No timeout while Barge itself is busy (committing, waiting for the disk); a client that does
    // not read its replies is not Barge being busy.
    const busy = [...this.#holds].some((h) => h !== 'replies' && h !== 'log');
    const ms = busy ? 0 : this.#session.inBody ? limits.dataBlockTimeoutMs : limits.commandTimeoutMs;
    this.#socket.setTimeout(ms);
  }

  #begin(transaction: Transaction, method: TransferMethod): void {
    const id = this.#ctx.nextId();
    const writer = this.#ctx.spool.begin(id);
    this.#message = { writer, transaction, method, head: new MessageIdScanner() };
    const protocol = receivedProtocol(this.#session.esmtp, transaction.smtputf8, this.#session.tls, this.#session.user !== undefined);
    writer.write(
      receivedHeader({
        helo: this.#session.helo,
        clientIp: this.#clientIp,
        hostname: this.#ctx.config.hostname,
        protocol,
        method,
        id,
        rcpts: transaction.rcpts.map((r) => r.address),
        date: this.#ctx.now(),
      }),
    );
  }

  #writeBody(bytes: Buffer): void {
    const message = this.#message;
    if (message === undefined) return;
    message.head.push(bytes);
    // The session hands out views of the socket's buffer; the write stream may hold them, which is fine
    // because the socket allocates a fresh buffer per read.
    if (!message.writer.write(bytes) && !this.#holds.has('drain')) {
      this.#hold('drain');
      message.writer.onDrain(() => this.#release('drain'));
    }
  }

  #commit(chunks: number, size: number): void {
    const message = this.#message;
    this.#message = undefined;
    if (message === undefined) return;
    this.#hold('commit');
    const { transaction: tx, method, writer } = message;
    const messageId = message.head.messageId();
    const envelope = {
      id: writer.id,
      receivedAt: this.#ctx.now().toISOString(),
      listener: this.#ctx.listener.name,
      clientIp: this.#clientIp,
      helo: this.#session.helo,
      protocol: receivedProtocol(this.#session.esmtp, tx.smtputf8, this.#session.tls, this.#session.user !== undefined),
      method,
      chunks,
      size,
      transaction: tx,
    };
    const facts = { clientIp: this.#clientIp, helo: this.#session.helo, from: tx.from, authenticated: this.#session.user !== undefined };
    (this.#ctx.screen?.(writer, envelope, facts) ?? this.#ctx.spool.commit(writer, envelope)).then(
      (committed) => {
        if ('refuse' in committed) {
          this.#ctx.track({ event: 'rejected', listener: this.#ctx.listener.name, clientIp: this.#clientIp, from: tx.from, reason: committed.refuse.lines.join(' '), method });
          void writer.discard();
          this.#afterCommit({ refuse: committed.refuse });
          return;
        }
        this.#ctx.track({
          event: 'received', id: writer.id, listener: this.#ctx.listener.name, clientIp: this.#clientIp, helo: this.#session.helo,
          from: tx.from, rcpts: tx.rcpts.map((r) => r.address), size, body: tx.body, smtputf8: tx.smtputf8, method, chunks,
          ...(tx.envid === undefined ? {} : { envid: tx.envid }),
          ...(messageId === undefined ? {} : { messageId }),
        });
        this.#ctx.queued(writer.id, committed);
        this.#afterCommit({ id: writer.id });
      },
      (e: unknown) => {
        this.#ctx.track({ event: 'rejected', listener: this.#ctx.listener.name, clientIp: this.#clientIp, from: tx.from, reason: `spool write failed: ${String(e)}`, method });
        this.#afterCommit({ refuse: Reply.storageFailed() });
      },
    );
  }

  #afterCommit(outcome: { id: string } | { refuse: Reply }): void {
    this.#holds.delete('commit');
    this.#perform(this.#session.committed(outcome));
    if (this.#shuttingDown) this.#perform(this.#session.abort(Reply.shuttingDown()));
    this.#release();
    this.#endIfIdle();
  }

  /** After the client's half-close, ends our side once nothing is left to answer. */
  #endIfIdle(): void {
    if (!this.#inputEnded || this.#unread.length > 0 || this.#holds.has('commit') || this.#holds.has('auth')) return;
    this.#dropMessage('connection closed mid-message');
    if (!this.#socket.destroyed) this.#socket.end();
  }

  #dropMessage(reason: string): void {
    const message = this.#message;
    if (message === undefined) return;
    this.#message = undefined;
    const { transaction: tx, method } = message;
    this.#ctx.track({ event: 'rejected', listener: this.#ctx.listener.name, clientIp: this.#clientIp, from: tx.from, reason, method });
    void message.writer.discard();
    this.#release('drain');
  }

  #hold(reason: Hold): void {
    this.#holds.add(reason);
    this.#socket.pause();
    this.#socket.setTimeout(0);
  }

  #release(reason?: Hold): void {
    if (reason !== undefined) this.#holds.delete(reason);
    if (this.#holds.size === 0 && !this.#socket.destroyed) {
      this.#socket.resume();
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
