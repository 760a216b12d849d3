/**
 * The server side of one SMTP session, sans I/O: bytes in, actions out (RFC 5321, 2920, 3030).
 *
 * The shell feeds socket bytes to `receive()` and performs the returned actions in order: send reply
 * text, open/stream/discard/commit a spool file, trigger a queue run, close. At `commit` the session waits:
 * it buffers further input (the shell should pause the socket) until `committed()` reports the outcome,
 * so pipelined commands are answered strictly in order.
 *
 * STARTTLS (RFC 3207) returns a `starttls` action; bytes the client pipelined after the command are
 * dropped (they arrived in clear text and must not be obeyed once TLS is up), and the session starts
 * afresh when the shell calls `tlsStarted()`. AUTH (RFC 4954) returns an `auth` action with the
 * decoded credentials; the shell checks them and answers through `authenticated()`.
 *
 * This module reads the bytes in the current mode and hands each command line, once the gatekeeper
 * lets it through, to its handler: envelope-commands (MAIL, RCPT, RSET), content-commands (DATA,
 * BDAT and the body), session-commands (HELO, EHLO, STARTTLS, QUIT, NOOP, HELP, VRFY, EXPN, ETRN),
 * auth-command (AUTH). Each reply says which command it answers; the shell derives its log record.
 */
import { auth, saslLine } from './auth-command.js';
import { parseCommandLine } from './command.js';
import { CommandFramer, DSN_LINE_ALLOWANCE, MAX_COMMAND_LINE } from './command-framer.js';
import { bdat, data, readChunk, readData } from './content-commands.js';
import { mail, rcpt, rset } from './envelope-commands.js';
import { gate, isVerb, type Verb } from './gatekeeper.js';
import { Reply } from './replies.js';
import type { SaslMechanism } from './sasl.js';
import { type Command, Conversation } from './session-context.js';
import { etrn, hello, help, noop, quit, starttls, verify } from './session-commands.js';
import type { Answered, ServerSessionOptions, SessionAction } from './session-types.js';

export { MAX_COMMAND_LINE } from './command-framer.js';
export type {
  Answered,
  AuthPolicy,
  ReceivedMessage,
  RecipientVerdict,
  ServerSessionOptions,
  SessionAction,
  TlsPolicy,
  TransferMethod,
} from './session-types.js';

type Handler = (c: Conversation, cmd: Command) => void;

/** One handler per verb; the Record type makes the table exhaustive over `Verb`. */
const HANDLERS: Readonly<Record<Verb, Handler>> = {
  EHLO: hello,
  HELO: hello,
  MAIL: mail,
  RCPT: rcpt,
  RSET: rset,
  DATA: data,
  BDAT: bdat,
  NOOP: noop,
  QUIT: quit,
  VRFY: verify,
  EXPN: verify,
  HELP: help,
  ETRN: etrn,
  STARTTLS: starttls,
  AUTH: auth,
};

/**
 * Commands that move no mail; a client sending many is wasting the server's time. Postfix's list,
 * plus HELO/EHLO, which Exim counts too (smtp_accept_max_nonmail): EHLO has the longest reply.
 */
const JUNK: ReadonlySet<string> = new Set<Verb>(['NOOP', 'RSET', 'VRFY', 'ETRN', 'HELP', 'HELO', 'EHLO']);

/** What a command's replies report; for AUTH the mechanism only, as the rest of the line is a secret. */
function answeredBy(verb: string, args: string): Answered {
  return verb === 'AUTH' ? { kind: 'auth', mechanism: args.split(' ')[0] ?? '' } : { kind: 'command', verb, args };
}

export class ServerSession {
  readonly #c: Conversation;
  readonly #framer: CommandFramer;

  constructor(options: ServerSessionOptions) {
    this.#c = new Conversation(options);
    this.#framer = new CommandFramer(MAX_COMMAND_LINE + (options.extensions.has('DSN') ? DSN_LINE_ALLOWANCE : 0));
  }

  /** True once TLS is up (after STARTTLS, or from the start on an implicit TLS listener). */
  get tls(): boolean {
    return this.#c.tls;
  }

  /** The authenticated user, if AUTH succeeded. */
  get user(): string | undefined {
    return this.#c.user;
  }

  /** The name the client gave in HELO/EHLO ("" before). */
  get helo(): string {
    return this.#c.helo;
  }
  get esmtp(): boolean {
    return this.#c.esmtp;
  }
  /** True while a message is being received (a spool file is open). */
  get inBody(): boolean {
    return this.#c.state.kind === 'body';
  }
  get closed(): boolean {
    return this.#c.closed;
  }

  greet(): SessionAction[] {
    return this.#run(() => this.#c.reply(Reply.greeting(this.#c.o.hostname)));
  }

  receive(bytes: Buffer): SessionAction[] {
    const c = this.#c;
    if (c.closed || c.tlsPending) return [];
    return this.#run(() => {
      if (c.waiting !== undefined) c.pending.push(bytes);
      else this.#process(bytes);
    });
  }

  /** The shell's answer to a `commit`: the queue id on success, or the reply to give (452 4.3.1). */
  committed(outcome: { readonly id: string } | { readonly refuse: Reply }): SessionAction[] {
    const c = this.#c;
    const s = c.state;
    if (c.waiting?.kind !== 'commit' || s.kind !== 'body') return [];
    const args = c.waiting.args;
    return this.#run(() => {
      c.waiting = undefined;
      c.endTransaction(s);
      // A client that delivers mail is not idling: junk commands are counted between messages.
      if ('id' in outcome) c.junk = 0;
      const end: Answered = { kind: 'message', method: s.method, args, ...('id' in outcome ? { queued: outcome.id } : {}) };
      c.reply('id' in outcome ? Reply.queued(outcome.id) : outcome.refuse, end);
      this.#resume();
    });
  }

  /** The shell's answer to an `auth`: the user's canonical name, or the reply (535 5.7.8, 454 4.7.0). */
  authenticated(outcome: { readonly user: string } | { readonly refuse: Reply }, mechanism: SaslMechanism): SessionAction[] {
    const c = this.#c;
    if (c.waiting?.kind !== 'auth') return [];
    return this.#run(() => {
      c.waiting = undefined;
      const answered: Answered = { kind: 'auth', mechanism };
      if ('user' in outcome) {
        c.user = outcome.user;
        c.reply(Reply.authenticated(), answered);
      } else c.error(outcome.refuse, answered);
      this.#resume();
    });
  }

  /**
   * The TLS handshake after STARTTLS succeeded. RFC 3207 4.2: the client must start over with EHLO,
   * and nothing learnt before (HELO name, AUTH, a transaction) carries over.
   */
  tlsStarted(): SessionAction[] {
    const c = this.#c;
    c.tlsPending = false;
    c.tls = true;
    c.state = { kind: 'fresh' };
    c.helo = '';
    c.user = undefined;
    return [];
  }

  /** Ends the session from outside (shutdown, timeout): abandons any message and closes. */
  abort(r: Reply): SessionAction[] {
    const c = this.#c;
    if (c.closed) return [];
    return this.#run(() => {
      if (c.state.kind === 'body' && c.waiting?.kind !== 'commit') c.emit({ kind: 'discard', reason: 'session aborted' });
      c.reply(r);
      c.emit({ kind: 'close' });
      c.closed = true;
    });
  }

  /** Runs one call of the shell's and returns the actions it produced. */
  #run(step: () => void): SessionAction[] {
    const out: SessionAction[] = [];
    this.#c.out = out;
    step();
    return out;
  }

  #resume(): void {
    const c = this.#c;
    while (c.waiting === undefined && !c.closed && c.pending.length > 0) {
      const next = c.pending.shift();
      if (next !== undefined) this.#process(next);
    }
  }

  #process(buf: Buffer): void {
    const c = this.#c;
    let pos = 0;
    while (pos < buf.length && c.waiting === undefined && !c.closed && !c.tlsPending) {
      const mode = c.mode;
      switch (mode.kind) {
        case 'command':
          pos = this.#readCommand(buf, pos);
          break;
        case 'data':
          pos = readData(c, mode.reader, buf, pos);
          break;
        case 'chunk':
          pos = readChunk(c, mode, buf, pos);
          break;
        default: {
          const never: never = mode;
          return never;
        }
      }
    }
    // After STARTTLS the rest of this read is dropped: it was sent in clear text (CVE-2011-0411).
    if (c.waiting !== undefined && pos < buf.length) c.pending.unshift(buf.subarray(pos));
  }

  #readCommand(buf: Buffer, pos: number): number {
    const { next, line } = this.#framer.feed(buf, pos);
    switch (line?.kind) {
      case undefined:
        break;
      case 'too-long':
        this.#c.error(Reply.commandTooLong());
        break;
      case 'bare-lf':
        // RFC 5321 2.3.8: only CRLF ends a command line.
        this.#c.error(Reply.bareLfInCommand());
        break;
      case 'line':
        this.#command(line.text, line.length);
        break;
      default: {
        const never: never = line;
        return never;
      }
    }
    return next;
  }

  #command(line: string, length: number): void {
    const c = this.#c;
    if (c.sasl !== undefined) return saslLine(c, c.sasl, line);
    const { verb, args } = parseCommandLine(line);
    // MAIL and RCPT may be longer when DSN adds its parameters (RFC 3461 5); the framer allowed for that.
    if (length > MAX_COMMAND_LINE && verb !== 'MAIL' && verb !== 'RCPT') return c.error(Reply.commandTooLong(), { kind: 'too-long', verb });
    const answered = answeredBy(verb, args);
    if (JUNK.has(verb) && ++c.junk > c.o.maxJunkCommands) return c.close(Reply.tooManyJunkCommands(), answered);
    if (!isVerb(verb)) return c.error(Reply.unknownCommand(), answered);
    const refusal = gate(c, verb);
    if (refusal !== undefined) return c.error(refusal, answered);
    HANDLERS[verb](c, { verb, args, answered });
  }
}
