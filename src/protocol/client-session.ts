/**
 * The sending side of SMTP, sans I/O: one connection from the greeting to QUIT. Reply bytes in
 * (`receive`), and out: bytes to send, a STARTTLS upgrade to perform, a body to open, typed
 * outcomes, close. The shell owns the socket and the clock: after every call it reads `awaiting`
 * (the class of the reply due, or undefined) to arm its timer, and calls `timeout()` when it fires.
 * A peer's behaviour never throws here; it becomes an outcome.
 *
 * Order: greeting (220), EHLO or HELO when EHLO is refused (RFC 5321 3.2), STARTTLS when offered
 * and allowed (RFC 3207; EHLO again after it, 4.2), AUTH PLAIN or LOGIN over TLS only (RFC 4954),
 * then `ready` (client-opening.ts chooses between them); each `send(message)` runs one transaction
 * (client-transaction.ts); `quit()` ends it.
 */
import { nextAuth } from './client-auth.js';
import { afterHello, authOrReady, type OpeningMove, peerName, stageOf, type Step } from './client-opening.js';
import { ClientTransaction, sendLines } from './client-transaction.js';
import type {
  ClientAction,
  ClientMessage,
  ClientOutcome,
  ClientSessionOptions,
  PeerCapabilities,
  ReplyClass,
  Stage,
  TlsInfo,
  TransactionOptions,
} from './client-types.js';
import { summary } from './client-envelope.js';
import { parseEhloKeywords } from './ehlo.js';
import { ReplyParser, type PeerReply } from './reply-parser.js';

export class ClientSession {
  readonly #options: ClientSessionOptions;
  #parser = new ReplyParser();
  /** The connection-level reply awaited (one at a time: nothing is pipelined before MAIL). */
  #step: Step | undefined = 'greeting';
  #transaction: ClientTransaction | undefined;
  #handshaking = false;
  #tls = false;
  #tlsInfo: TlsInfo | undefined;
  #caps: PeerCapabilities = { esmtp: false, keywords: new Map(), greeting: '' };
  #greeting = '';
  /** The capabilities of the first EHLO, before TLS: what a device on the path sees and may rewrite. */
  #cleartext: PeerCapabilities | undefined;
  /** The stage of the command sent by `ask`. */
  #asked: Stage = 'MAIL';
  #ready = false;
  #closed = false;

  constructor(options: ClientSessionOptions) {
    this.#options = options;
  }

  /** The class of the reply the shell is waiting for; undefined when none is due. */
  get awaiting(): ReplyClass | undefined {
    if (this.#closed) return undefined;
    if (this.#transaction !== undefined) return this.#transaction.awaiting;
    // The TLS handshake is bounded like a command reply.
    if (this.#handshaking) return 'command';
    if (this.#step === undefined) return undefined;
    return this.#step === 'greeting' ? 'greeting' : 'command';
  }

  /** Whether the shell should feed content now (see ClientTransaction.wantsBody). */
  get wantsBody(): boolean {
    return !this.#closed && this.#transaction?.wantsBody === true;
  }

  get ready(): boolean {
    return this.#ready && !this.#closed && this.#transaction === undefined && this.#step === undefined;
  }

  get caps(): PeerCapabilities {
    return this.#caps;
  }

  get cleartextCaps(): PeerCapabilities | undefined {
    return this.#cleartext;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Replies completed before a malformed line still count. Bytes after the 220 to STARTTLS are
   * dropped unread: before the handshake nothing can be trusted (RFC 3207 4.2).
   */
  receive(bytes: Buffer): ClientAction[] {
    const out: ClientAction[] = [];
    for (const r of this.#parser.replies(bytes, () => !this.#closed && !this.#handshaking)) {
      if ('malformed' in r) return [...out, ...this.#fail(this.#failure('closed', `not an SMTP reply: ${r.malformed}`))];
      out.push({ kind: 'reply', text: summary(r).text }, ...this.#reply(r));
    }
    return out;
  }

  /** The shell upgraded the socket after a `startTls` action; the session starts over with EHLO. */
  tlsEstablished(info: TlsInfo = { authorized: true }): ClientAction[] {
    if (!this.#handshaking || this.#closed) return [];
    this.#handshaking = false;
    this.#tls = true;
    this.#tlsInfo = info;
    // RFC 3207 4.2: everything known from before TLS is discarded, including buffered replies.
    this.#parser = new ReplyParser();
    return this.#hello();
  }

  tlsFailed(reason: string): ClientAction[] {
    if (!this.#handshaking || this.#closed) return [];
    this.#handshaking = false;
    return this.#fail({ kind: 'tlsFailure', reason, required: this.#options.tls === 'required' });
  }

  /** The reply awaited did not come in time ("no reply within 10000 ms", says the shell). */
  timeout(reason = `no ${this.awaiting ?? 'command'} reply in time`): ClientAction[] {
    if (this.#closed || this.awaiting === undefined) return [];
    if (this.#handshaking) return this.tlsFailed(`TLS handshake: ${reason}`);
    if (this.#step === 'quit') return this.#close();
    return this.#fail(this.#failure('timeout', reason));
  }

  /** The peer closed the connection (or it was reset). */
  connectionClosed(reason = 'connection closed by the peer'): ClientAction[] {
    if (this.#closed) return [];
    // Mid-content no reply is awaited, but the transaction still needs its outcome.
    if (this.#step === 'quit' || (this.awaiting === undefined && this.#transaction === undefined)) return this.#close();
    return this.#fail(this.#failure('closed', reason));
  }

  /** Starts one transaction; its outcome arrives as an action. Only when `ready`. */
  send(message: ClientMessage, options: TransactionOptions): ClientAction[] {
    // A kept connection the peer closed meanwhile: lost, so the caller may retry on a fresh one.
    if (this.#closed) return [{ kind: 'outcome', outcome: { kind: 'connectionLost', stage: 'MAIL', reason: 'the connection was closed' } }];
    if (!this.ready)
      return [{ kind: 'outcome', outcome: { kind: 'localFailure', stage: 'MAIL', reason: 'the session is not ready for a transaction' } }];
    this.#transaction = new ClientTransaction(message, this.#caps, options);
    return this.#afterTransaction(this.#transaction.start());
  }

  body(chunk: Buffer): ClientAction[] {
    return this.#transaction === undefined || this.#closed ? [] : this.#afterTransaction(this.#transaction.body(chunk));
  }

  bodyEnd(): ClientAction[] {
    return this.#transaction === undefined || this.#closed ? [] : this.#afterTransaction(this.#transaction.bodyEnd());
  }

  /** RSET between transactions, e.g. to check a kept connection before reuse; answers `ready`. */
  rset(): ClientAction[] {
    if (!this.ready) return [];
    this.#step = 'rset';
    return [sendLines(['RSET'])];
  }

  /**
   * One scripted step when idle: sends `line` (with `payload` after it, e.g. a BDAT chunk; nothing
   * when both are empty, to read a reply still owed) and reports the reply as an `answer` outcome,
   * whatever its code; the session stays ready. For `barge probe`, which judges each reply itself.
   */
  ask(stage: Stage, line: string, payload: Buffer = Buffer.alloc(0)): ClientAction[] {
    const notReady: ClientOutcome = { kind: 'localFailure', stage, reason: 'the session is not ready for a command' };
    if (!this.ready) return [{ kind: 'outcome', outcome: notReady }];
    this.#step = 'ask';
    this.#asked = stage;
    if (line === '' && payload.length === 0) return [];
    const head = line === '' ? [] : [Buffer.from(`${line}\r\n`, 'latin1')];
    return [{ kind: 'send', bytes: Buffer.concat([...head, payload]), log: line === '' ? [] : [line] }];
  }

  /** QUIT when idle (RFC 5321 4.1.1.10); in the middle of anything else, just close. */
  quit(): ClientAction[] {
    if (this.#closed) return [];
    if (!this.ready) return this.#close();
    this.#step = 'quit';
    return [sendLines(['QUIT'])];
  }

  #reply(r: PeerReply): ClientAction[] {
    if (this.#transaction !== undefined) {
      // RFC 5321 3.8: 421 means the server is closing the channel, whatever it answers.
      if (r.code === 421) return this.#fail(this.#transaction.closing(r));
      return this.#afterTransaction(this.#transaction.reply(r));
    }
    const step = this.#step;
    if (step === undefined) {
      return this.#fail({ kind: 'connectionLost', stage: 'MAIL', reason: `unexpected reply while idle: ${summary(r).text}` });
    }
    this.#step = undefined;
    switch (step) {
      case 'greeting':
        this.#greeting = r.lines.join(' ');
        return r.code === 220 ? this.#hello() : this.#refused('greeting', r);
      case 'ehlo':
        if (r.code === 250) return this.#secure({ esmtp: true, keywords: parseEhloKeywords(r.lines), ...this.#named(r) });
        // RFC 5321 3.2: a server that does not know EHLO answers 5xx; fall back to HELO.
        if (r.code >= 500 && !this.#tls) return this.#command('helo', `HELO ${this.#options.heloName}`);
        return this.#refused('EHLO', r);
      case 'helo':
        return r.code === 250 ? this.#secure({ esmtp: false, keywords: new Map(), ...this.#named(r) }) : this.#refused('HELO', r);
      case 'starttls':
        if (r.code === 220) {
          this.#handshaking = true;
          return [{ kind: 'startTls', verify: this.#options.tls === 'required' }];
        }
        if (this.#options.tls === 'required') return this.#refused('STARTTLS', r);
        return this.#go(authOrReady(this.#caps, this.#tls ? this.#tlsInfo : undefined, this.#options));
      case 'auth-plain':
      case 'auth-pass':
      case 'auth-login':
      case 'auth-user': {
        const next = this.#options.auth === undefined ? 'refused' : nextAuth(step, r.code, this.#options.auth);
        if (next === 'ready') return this.#becomeReady();
        return next === 'refused' ? this.#refused('AUTH', r) : this.#command(next.step, next.line, next.log);
      }
      case 'rset':
        return r.code === 250 ? this.#becomeReady() : this.#refused('RSET', r);
      case 'quit':
        return this.#close();
      case 'ask':
        return [{ kind: 'outcome', outcome: { kind: 'answer', stage: this.#asked, ...summary(r) } }];
      default: {
        const never: never = step;
        return never;
      }
    }
  }

  /** The greeting and the peer's own name, kept with its capabilities. */
  #named(r: PeerReply): { greeting: string; name: string } {
    return { greeting: this.#greeting, name: peerName(r) };
  }

  #hello(): ClientAction[] {
    return this.#command('ehlo', `EHLO ${this.#options.heloName}`);
  }

  #command(step: Step, line: string, log = line): ClientAction[] {
    this.#step = step;
    return [{ kind: 'send', bytes: Buffer.from(`${line}\r\n`, 'latin1'), log: [log] }];
  }

  #secure(caps: PeerCapabilities): ClientAction[] {
    this.#caps = caps;
    if (!this.#tls) this.#cleartext = caps;
    return this.#go(afterHello(caps, this.#tls ? this.#tlsInfo : undefined, this.#options));
  }

  #go(move: OpeningMove): ClientAction[] {
    if (move.kind === 'ready') return this.#becomeReady();
    if (move.kind === 'local') return this.#local(move.stage, move.reason);
    return this.#command(move.step, move.line, move.log);
  }

  #becomeReady(): ClientAction[] {
    this.#ready = true;
    return [{ kind: 'outcome', outcome: { kind: 'ready', caps: this.#caps, tls: this.#tls } }];
  }

  #afterTransaction(actions: ClientAction[]): ClientAction[] {
    const outcome = this.#transaction?.outcome;
    if (outcome === undefined) return actions;
    this.#transaction = undefined;
    // After a path failure or a local one the connection is in an unknown state: never reuse it.
    return outcome.kind === 'pathFailure' || outcome.kind === 'localFailure' ? [...actions, ...this.#close()] : actions;
  }

  #failure(kind: 'timeout' | 'closed', reason: string): ClientOutcome {
    if (this.#transaction !== undefined) return this.#transaction.connectionFailed(kind, reason);
    const stage = stageOf(this.#step, this.#asked);
    return kind === 'timeout'
      ? { kind: 'timeout', stage, replyClass: this.awaiting ?? 'command' }
      : { kind: 'connectionLost', stage, reason };
  }

  #local(stage: Stage, reason: string): ClientAction[] {
    return this.#fail({ kind: 'localFailure', stage, reason });
  }

  #refused(stage: Stage, r: PeerReply): ClientAction[] {
    return this.#fail({ kind: 'rejected', stage, recipients: [], ...summary(r) });
  }

  #fail(outcome: ClientOutcome): ClientAction[] {
    this.#transaction = undefined;
    return [{ kind: 'outcome', outcome }, ...this.#close()];
  }

  #close(): ClientAction[] {
    if (this.#closed) return [];
    this.#closed = true;
    this.#step = undefined;
    this.#transaction = undefined;
    return [{ kind: 'close' }];
  }
}
