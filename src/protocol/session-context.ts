/**
 * The facts of one server session that its command handlers share: the transaction state (a
 * discriminated union), the reading mode, TLS, the authenticated user, the error count, and the
 * actions produced by the call in progress. Internal to the session's modules; the shell sees
 * `ServerSession` only.
 */
import type { DataReader } from './data-reader.js';
import type { Recipient, Transaction } from './envelope.js';
import type { HopCounter } from './hop-count.js';
import { type Reply, Reply as Replies, formatReply } from './replies.js';
import type { SaslExchange } from './sasl.js';
import type { Answered, ServerSessionOptions, SessionAction, TransferMethod } from './session-types.js';

export type State =
  | { readonly kind: 'fresh' }
  | { readonly kind: 'greeted'; readonly esmtp: boolean }
  | { readonly kind: 'mail'; readonly esmtp: boolean; readonly tx: Omit<Transaction, 'rcpts'>; readonly rcpts: Recipient[] }
  | {
      kind: 'body';
      readonly esmtp: boolean;
      readonly tx: Transaction;
      readonly method: TransferMethod;
      size: number;
      chunks: number;
      overflow: boolean;
      readonly hops: HopCounter;
    };

export type BodyState = State & { kind: 'body' };

/** `refusal` set: the chunk is refused, its bytes are read and dropped; the reply is sent at its end. */
export type ChunkMode = {
  readonly kind: 'chunk';
  remaining: number;
  readonly last: boolean;
  readonly size: number;
  readonly refusal: Reply | undefined;
  readonly args: string;
};

export type Mode = { readonly kind: 'command' } | { readonly kind: 'data'; readonly reader: DataReader } | ChunkMode;

/** The shell is making a message durable (answered against the last chunk's arguments) or checking credentials. */
export type Waiting = { readonly kind: 'commit'; readonly args: string } | { readonly kind: 'auth' };

/** One command line as the handlers get it; `answered` is what its replies report to the shell. */
export interface Command {
  readonly verb: string;
  readonly args: string;
  readonly answered: Answered;
}

export class Conversation {
  readonly o: ServerSessionOptions;
  state: State = { kind: 'fresh' };
  mode: Mode = { kind: 'command' };
  /** TLS is up (after STARTTLS, or from the start on an implicit TLS listener). */
  tls: boolean;
  /** STARTTLS was answered; nothing more is read until the handshake is done. */
  tlsPending = false;
  user: string | undefined;
  /** The name the client gave in HELO/EHLO ("" before). */
  helo = '';
  sasl: SaslExchange | undefined;
  /** Input is held (in `pending`) until the shell answers. */
  waiting: Waiting | undefined;
  readonly pending: Buffer[] = [];
  closed = false;
  errors = 0;
  junk = 0;
  /** Recipients refused for exceeding maxRecipients in this session. */
  overshoot = 0;
  /** RCPT commands accepted in this transaction, repeats included (Postfix counts them too). */
  rcptsAccepted = 0;
  /** The actions of the call in progress. */
  out: SessionAction[] = [];

  constructor(options: ServerSessionOptions) {
    this.o = options;
    this.tls = options.tls === 'implicit';
  }

  get esmtp(): boolean {
    return this.state.kind !== 'fresh' && this.state.esmtp;
  }

  emit(...actions: SessionAction[]): void {
    this.out.push(...actions);
  }

  reply(r: Reply, answered?: Answered): void {
    const text = formatReply(r, this.o.extensions.has('ENHANCEDSTATUSCODES'));
    this.out.push(answered === undefined ? { kind: 'send', text, code: r.code } : { kind: 'send', text, code: r.code, answered });
  }

  /** A refusal; a 5xx counts towards the error limit, which ends the session (421 4.7.0). */
  error(r: Reply, answered?: Answered): void {
    if (r.code >= 500) return this.countError(r, answered);
    this.reply(r, answered);
  }

  /** A refusal that counts towards the error limit whatever its code. */
  countError(r: Reply, answered?: Answered): void {
    this.reply(r, answered);
    if (++this.errors >= this.o.maxErrors) this.close(Replies.tooManyErrors());
  }

  /** Abandons any transaction, replies and closes. */
  close(r: Reply, answered?: Answered): void {
    this.abandon();
    this.reply(r, answered);
    this.emit({ kind: 'close' });
    this.closed = true;
  }

  /** Drops the current transaction; a message being received is discarded. */
  abandon(): void {
    const s = this.state;
    switch (s.kind) {
      case 'fresh':
      case 'greeted':
        return;
      case 'body':
        this.emit({ kind: 'discard', reason: 'transaction reset' });
        this.state = { kind: 'greeted', esmtp: s.esmtp };
        return;
      case 'mail':
        this.state = { kind: 'greeted', esmtp: s.esmtp };
        return;
      default: {
        const never: never = s;
        return never;
      }
    }
  }

  /** Back to greeted, keeping HELO or EHLO (after a message ends or fails). */
  endTransaction(s: BodyState): void {
    this.state = { kind: 'greeted', esmtp: s.esmtp };
  }
}
