/**
 * The server side of one SMTP session, sans I/O: bytes in, actions out (RFC 5321, 2920, 3030).
 *
 * The shell feeds socket bytes to `receive()` and performs the returned actions in order: send reply
 * text, open/stream/discard/commit a spool file, trigger a queue run, close. At `commit` the session waits:
 * it buffers further input (the shell should pause the socket) until `committed()` reports the outcome,
 * so pipelined commands are answered strictly in order. Bytes announced by BDAT are counted, never
 * parsed, and consumed exactly even when the BDAT is refused (RFC 3030 2).
 *
 * STARTTLS (RFC 3207) returns a `starttls` action; bytes the client pipelined after the command are
 * dropped (they arrived in clear text and must not be obeyed once TLS is up), and the session starts
 * afresh when the shell calls `tlsStarted()`. AUTH (RFC 4954) returns an `auth` action with the
 * decoded credentials; the shell checks them and answers through `authenticated()`.
 */
import { parseBdatArgs, parseCommandLine, parsePathArgument, domainOf, localPartOf } from './command.js';
import { DataReader } from './data-reader.js';
import { HopCounter } from './hop-count.js';
import { validateMail, validateRcptParams, type Recipient, type Transaction } from './envelope.js';
import type { Extension } from './extensions.js';
import { Reply, formatReply } from './replies.js';
import { SaslExchange, isSaslMechanism, type SaslMechanism, type SaslStep } from './sasl.js';

export type TransferMethod = 'DATA' | 'BDAT';

/** What the session tells the shell to log for a command (W3C protocol log). */
export interface CommandLog {
  readonly verb: string;
  readonly args: string;
  readonly status: number;
}

export interface ReceivedMessage {
  readonly transaction: Transaction;
  readonly method: TransferMethod;
  /** BDAT commands that carried this message (0 for DATA). */
  readonly chunks: number;
  /** Octets of message content received (after DATA un-stuffing). */
  readonly size: number;
}

export type SessionAction =
  | { readonly kind: 'send'; readonly text: string; readonly log?: CommandLog }
  | { readonly kind: 'begin'; readonly transaction: Transaction; readonly method: TransferMethod }
  | { readonly kind: 'body'; readonly bytes: Buffer }
  | { readonly kind: 'discard'; readonly reason?: string }
  | { readonly kind: 'commit'; readonly message: ReceivedMessage }
  | { readonly kind: 'etrn'; readonly domain: string }
  | { readonly kind: 'starttls' }
  | { readonly kind: 'auth'; readonly mechanism: SaslMechanism; readonly user: string; readonly password: string }
  | { readonly kind: 'close' };

/** STARTTLS offered or not, required before MAIL, or TLS from the first byte (RFC 8314 port 465). */
export type TlsPolicy = 'off' | 'optional' | 'required' | 'implicit';
export type AuthPolicy = 'off' | 'optional' | 'required';

export type RecipientVerdict = { readonly accept: 'local' | 'relay' } | { readonly refuse: Reply };

export interface ServerSessionOptions {
  readonly hostname: string;
  readonly clientIp: string;
  readonly extensions: ReadonlySet<Extension>;
  readonly maxMessageSize: number;
  readonly maxRecipients: number;
  readonly maxErrors: number;
  /**
   * Most Received: fields a message may carry, counting the one the shell prepends (as Postfix's
   * hopcount_limit counts its own); more is a mail loop: 554 5.4.6 at the end of the body.
   */
  readonly maxHops: number;
  /** NOOP, RSET, VRFY, ETRN, HELP, HELO and EHLO allowed per session (Postfix's smtpd_junk_command_limit), then 421. */
  readonly maxJunkCommands: number;
  /** Where `RCPT TO:<Postmaster>` (no domain, RFC 5321 4.5.1) goes: the primary local domain's postmaster. */
  readonly postmaster: string;
  /** ETRN (RFC 1985) for a node: undefined to start the run, or the refusal (458: not allowed, too soon). */
  readonly etrnPolicy: (node: string, user: string | undefined) => Reply | undefined;
  readonly normaliseBareLineEndings: boolean;
  readonly vrfy: 'cannot' | 'off';
  readonly expn: boolean;
  readonly tls: TlsPolicy;
  /** AUTH offered (after EHLO), or required before MAIL. */
  readonly auth: AuthPolicy;
  /** Offer AUTH without TLS; off by default, as passwords would cross the network in clear text. */
  readonly authCleartext: boolean;
  /** Decides each RCPT for the (possibly authenticated) session: local, relay, or a refusal (550 5.1.1, 554 5.7.1). */
  readonly checkRecipient: (address: string, user: string | undefined) => RecipientVerdict;
  /** Submission listeners: may this authenticated user send as this address? */
  readonly checkSender?: (user: string, address: string) => boolean;
}

/** Verbs checked by the gatekeeper against the TLS and AUTH requirements. */
const GATED = new Set(['MAIL', 'ETRN', 'VRFY', 'EXPN', 'AUTH']);
/**
 * Commands that move no mail; a client sending many is wasting the server's time. Postfix's list,
 * plus HELO/EHLO, which Exim counts too (smtp_accept_max_nonmail): EHLO has the longest reply.
 */
const JUNK = new Set(['NOOP', 'RSET', 'VRFY', 'ETRN', 'HELP', 'HELO', 'EHLO']);

/** RFC 5321 4.5.3.1.4; RFC 3461 5 allows MAIL/RCPT lines 500 octets more when DSN is offered. */
export const MAX_COMMAND_LINE = 512;
const DSN_LINE_ALLOWANCE = 500;
const LF = 0x0a;
const CR = 0x0d;

type Mode =
  | { readonly kind: 'command' }
  | { readonly kind: 'data'; readonly reader: DataReader }
  /** `accept` false: the chunk is refused, its bytes are read and dropped; the reply is sent at its end. */
  | { kind: 'chunk'; remaining: number; readonly last: boolean; readonly size: number; readonly refusal: Reply | undefined; readonly args: string };

type State =
  | { readonly kind: 'fresh' }
  | { readonly kind: 'greeted'; readonly esmtp: boolean }
  | { readonly kind: 'mail'; readonly esmtp: boolean; readonly tx: Omit<Transaction, 'rcpts'>; readonly rcpts: Recipient[] }
  | { kind: 'body'; readonly esmtp: boolean; readonly tx: Transaction; readonly method: TransferMethod; size: number; chunks: number; overflow: boolean; readonly hops: HopCounter };

/**
 * The reply for a MAIL/RCPT argument the parser refused, by its RFC 3463 code: X.1.7 bad sender
 * syntax, X.1.3 bad destination syntax, X.5.4 bad parameter, else X.5.2 syntax error.
 */
function pathError(e: { readonly error: string; readonly enhanced?: string }): Reply {
  switch (e.enhanced) {
    case '5.1.7':
      return Reply.badAddress(e.error);
    case '5.1.3':
      return Reply.badRecipientAddress(e.error);
    case '5.5.4':
      return Reply.badArgument(e.error);
    default:
      return Reply.syntax(e.error);
  }
}

/** Local mailboxes are folded to lower case on delivery; elsewhere only the domain is case-blind (RFC 5321 2.4). */
function sameRecipient(r: Recipient, address: string, local: boolean): boolean {
  if (local || r.local) return r.local === local && r.address.toLowerCase() === address.toLowerCase();
  return localPartOf(r.address) === localPartOf(address) && domainOf(r.address) === domainOf(address);
}

export class ServerSession {
  readonly #o: ServerSessionOptions;
  #state: State = { kind: 'fresh' };
  #mode: Mode = { kind: 'command' };
  #line: Buffer[] = [];
  #lineLength = 0;
  #discardingLongLine = false;
  /** The current command line holds a bare LF (refused at its CRLF); the last byte read was a CR. */
  #bareLf = false;
  #lastCr = false;
  #errors = 0;
  #junk = 0;
  /** The shell is making a message durable or checking credentials; input is held until it answers. */
  #waiting: 'commit' | 'auth' | undefined;
  #pending: Buffer[] = [];
  #tls: boolean;
  /** STARTTLS was answered; nothing more is read until the handshake is done. */
  #tlsPending = false;
  #user: string | undefined;
  #sasl: SaslExchange | undefined;
  #closed = false;
  #helo = '';
  #lastChunkLog: { verb: string; args: string } | undefined;

  constructor(options: ServerSessionOptions) {
    this.#o = options;
    this.#tls = options.tls === 'implicit';
  }

  /** True once TLS is up (after STARTTLS, or from the start on an implicit TLS listener). */
  get tls(): boolean {
    return this.#tls;
  }

  /** The authenticated user, if AUTH succeeded. */
  get user(): string | undefined {
    return this.#user;
  }

  /** The name the client gave in HELO/EHLO ("" before). */
  get helo(): string {
    return this.#helo;
  }
  get esmtp(): boolean {
    return this.#state.kind !== 'fresh' && this.#state.esmtp;
  }
  /** True while a message is being received (a spool file is open). */
  get inBody(): boolean {
    return this.#state.kind === 'body';
  }
  get closed(): boolean {
    return this.#closed;
  }

  greet(): SessionAction[] {
    return [this.#send(Reply.greeting(this.#o.hostname))];
  }

  receive(bytes: Buffer): SessionAction[] {
    const out: SessionAction[] = [];
    if (this.#closed || this.#tlsPending) return out;
    if (this.#waiting !== undefined) this.#pending.push(bytes);
    else this.#process(bytes, out);
    return out;
  }

  /** The shell's answer to a `commit`: the queue id on success, or the reply to give (452 4.3.1). */
  committed(outcome: { readonly id: string } | { readonly refuse: Reply }): SessionAction[] {
    const out: SessionAction[] = [];
    if (this.#waiting !== 'commit' || this.#state.kind !== 'body') return out;
    const method = this.#state.method;
    this.#waiting = undefined;
    this.#state = { kind: 'greeted', esmtp: this.#state.esmtp };
    // A client that delivers mail is not idling: junk commands are counted between messages.
    if ('id' in outcome) this.#junk = 0;
    const r = 'id' in outcome ? Reply.queued(outcome.id) : outcome.refuse;
    const args = 'id' in outcome ? outcome.id : '';
    out.push(this.#send(r, method === 'DATA' ? { verb: 'DATA', args } : this.#lastChunkLog));
    this.#resume(out);
    return out;
  }

  /** The shell's answer to an `auth`: the user's canonical name, or the reply (535 5.7.8, 454 4.7.0). */
  authenticated(outcome: { readonly user: string } | { readonly refuse: Reply }, mechanism: SaslMechanism): SessionAction[] {
    const out: SessionAction[] = [];
    if (this.#waiting !== 'auth') return out;
    this.#waiting = undefined;
    const log = { verb: 'AUTH', args: mechanism };
    if ('user' in outcome) {
      this.#user = outcome.user;
      out.push(this.#send(Reply.authenticated(), log));
    } else this.#error(outcome.refuse, log, out);
    this.#resume(out);
    return out;
  }

  /**
   * The TLS handshake after STARTTLS succeeded. RFC 3207 4.2: the client must start over with EHLO,
   * and nothing learnt before (HELO name, AUTH, a transaction) carries over.
   */
  tlsStarted(): SessionAction[] {
    this.#tlsPending = false;
    this.#tls = true;
    this.#state = { kind: 'fresh' };
    this.#helo = '';
    this.#user = undefined;
    return [];
  }

  #resume(out: SessionAction[]): void {
    while (this.#waiting === undefined && !this.#closed && this.#pending.length > 0) {
      const next = this.#pending.shift();
      if (next !== undefined) this.#process(next, out);
    }
  }

  /** Ends the session from outside (shutdown, timeout): abandons any message and closes. */
  abort(r: Reply): SessionAction[] {
    if (this.#closed) return [];
    const out: SessionAction[] = [];
    if (this.#state.kind === 'body' && this.#waiting !== 'commit') out.push({ kind: 'discard', reason: 'session aborted' });
    out.push(this.#send(r), { kind: 'close' });
    this.#closed = true;
    return out;
  }

  #process(buf: Buffer, out: SessionAction[]): void {
    let pos = 0;
    while (pos < buf.length && this.#waiting === undefined && !this.#closed && !this.#tlsPending) {
      switch (this.#mode.kind) {
        case 'command':
          pos = this.#readCommand(buf, pos, out);
          break;
        case 'data':
          pos = this.#readData(this.#mode.reader, buf, pos, out);
          break;
        case 'chunk':
          pos = this.#readChunk(this.#mode, buf, pos, out);
          break;
      }
    }
    // After STARTTLS the rest of this read is dropped: it was sent in clear text (CVE-2011-0411).
    if (this.#waiting !== undefined && pos < buf.length) this.#pending.unshift(buf.subarray(pos));
  }

  #readCommand(buf: Buffer, pos: number, out: SessionAction[]): number {
    // RFC 5321 2.3.8: only CRLF ends a command line. A bare LF is part of the line, which is then
    // refused whole, so `MAIL ...\nRCPT ...\r\n` can never run as two commands (as in DATA).
    let lf = buf.indexOf(LF, pos);
    while (lf >= 0 && !(lf > pos ? buf[lf - 1] === CR : this.#lastCr)) {
      this.#bareLf = true;
      lf = buf.indexOf(LF, lf + 1);
    }
    const end = lf < 0 ? buf.length : lf + 1;
    this.#lastCr = lf < 0 && buf[end - 1] === CR;
    if (this.#discardingLongLine) {
      // Drop the rest of an over-long line so none of it is later taken for a command.
      if (lf >= 0) {
        this.#discardingLongLine = false;
        this.#bareLf = false;
        this.#error(Reply.commandTooLong(), undefined, out);
      }
      return end;
    }
    this.#lineLength += end - pos;
    const limit = MAX_COMMAND_LINE + (this.#o.extensions.has('DSN') ? DSN_LINE_ALLOWANCE : 0);
    if (this.#lineLength > limit) {
      this.#line = [];
      this.#lineLength = 0;
      if (lf < 0) this.#discardingLongLine = true;
      else {
        this.#bareLf = false;
        this.#error(Reply.commandTooLong(), undefined, out);
      }
      return end;
    }
    if (lf < 0) {
      this.#line.push(Buffer.from(buf.subarray(pos, end)));
      return end;
    }
    const raw = this.#line.length === 0 ? buf.subarray(pos, end) : Buffer.concat([...this.#line, buf.subarray(pos, end)]);
    const length = this.#lineLength;
    this.#line = [];
    this.#lineLength = 0;
    if (this.#bareLf) {
      this.#bareLf = false;
      this.#error(Reply.bareLfInCommand(), undefined, out);
      return end;
    }
    let stop = raw.length - 1;
    if (stop > 0 && raw[stop - 1] === 0x0d) stop--;
    this.#command(raw.toString('utf8', 0, stop), length, out);
    return end;
  }

  #command(line: string, length: number, out: SessionAction[]): void {
    if (this.#sasl !== undefined) return this.#saslStep(this.#sasl, this.#sasl.respond(line.trim()), out);
    const { verb, args } = parseCommandLine(line);
    if (length > MAX_COMMAND_LINE && verb !== 'MAIL' && verb !== 'RCPT') {
      this.#error(Reply.commandTooLong(), { verb, args: '' }, out);
      return;
    }
    if (JUNK.has(verb) && ++this.#junk > this.#o.maxJunkCommands) {
      this.#abandon(out);
      out.push(this.#send(Reply.tooManyJunkCommands(), { verb, args }), { kind: 'close' });
      this.#closed = true;
      return;
    }
    const gate = this.#gate(verb);
    if (gate !== undefined) return this.#error(gate, { verb, args: verb === 'AUTH' ? args.split(' ')[0] ?? '' : args }, out);
    const s = this.#state;
    const has = (e: Extension): boolean => this.esmtp && this.#o.extensions.has(e);
    switch (verb) {
      case 'EHLO':
      case 'HELO': {
        if (args.trim() === '') return this.#error(Reply.badArgument(`${verb} requires a domain or address literal`), { verb, args }, out);
        this.#abandon(out);
        this.#helo = args.trim().split(' ')[0] ?? '';
        const esmtp = verb === 'EHLO';
        this.#state = { kind: 'greeted', esmtp };
        const r = esmtp ? this.#ehloReply() : Reply.ok(`${this.#o.hostname} Hello ${this.#helo} [${this.#o.clientIp}]`);
        out.push(this.#send(r, { verb, args }));
        return;
      }
      case 'MAIL': {
        if (s.kind === 'fresh') return this.#error(Reply.badSequence('send HELO/EHLO first'), { verb, args }, out);
        if (s.kind !== 'greeted') return this.#error(Reply.badSequence('nested MAIL command'), { verb, args }, out);
        const path = parsePathArgument(args, 'FROM');
        if ('error' in path) return this.#error(pathError(path), { verb, args }, out);
        const tx = validateMail(path.ok, this.#o.extensions, s.esmtp, this.#o.maxMessageSize, this.#tls);
        if ('reply' in tx) return this.#error(tx.reply, { verb, args }, out);
        const sender = this.#o.checkSender;
        if (this.#user !== undefined && sender !== undefined && !sender(this.#user, tx.ok.from)) {
          return this.#error(Reply.senderNotOwned(tx.ok.from), { verb, args }, out);
        }
        this.#state = { kind: 'mail', esmtp: s.esmtp, tx: tx.ok, rcpts: [] };
        out.push(this.#send(Reply.senderOk(), { verb, args }));
        return;
      }
      case 'RCPT': {
        if (s.kind !== 'mail') return this.#error(Reply.badSequence('need MAIL before RCPT'), { verb, args }, out);
        const path = parsePathArgument(args, 'TO');
        if ('error' in path) return this.#error(pathError(path), { verb, args }, out);
        const params = validateRcptParams(path.ok, this.#o.extensions, s.tx.smtputf8);
        if ('reply' in params) return this.#error(params.reply, { verb, args }, out);
        if (s.rcpts.length >= this.#o.maxRecipients) {
          out.push(this.#send(Reply.tooManyRecipients(this.#o.maxRecipients), { verb, args }));
          return;
        }
        // RFC 5321 4.5.1: <Postmaster> without a domain must be accepted from anyone.
        const bare = domainOf(path.ok.address) === '';
        const address = bare ? this.#o.postmaster : path.ok.address;
        const verdict = bare ? { accept: 'local' as const } : this.#o.checkRecipient(address, this.#user);
        if ('refuse' in verdict) return this.#error(verdict.refuse, { verb, args }, out);
        // A repeated recipient is answered 250 but delivered once, as Postfix and Exim do.
        if (!s.rcpts.some((r) => sameRecipient(r, address, verdict.accept === 'local'))) s.rcpts.push({ address, local: verdict.accept === 'local', ...params.ok });
        out.push(this.#send(Reply.recipientOk(), { verb, args }));
        return;
      }
      case 'DATA': {
        if (s.kind !== 'mail') return this.#error(Reply.badSequence(s.kind === 'body' ? 'DATA and BDAT cannot be mixed' : 'need MAIL and RCPT before DATA'), { verb, args }, out);
        if (args !== '') return this.#error(Reply.badArgument('DATA takes no argument'), { verb, args }, out);
        if (s.rcpts.length === 0) return this.#error(Reply.noValidRecipients(), { verb, args }, out);
        if (s.tx.body === 'BINARYMIME') return this.#error(Reply.badSequence('BODY=BINARYMIME requires BDAT (RFC 3030 3)'), { verb, args }, out);
        const tx: Transaction = { ...s.tx, rcpts: s.rcpts };
        this.#state = { kind: 'body', esmtp: s.esmtp, tx, method: 'DATA', size: 0, chunks: 0, overflow: false, hops: new HopCounter() };
        this.#mode = { kind: 'data', reader: new DataReader({ normaliseBareLineEndings: this.#o.normaliseBareLineEndings }) };
        out.push({ kind: 'begin', transaction: tx, method: 'DATA' }, this.#send(Reply.startData()));
        return;
      }
      case 'BDAT':
        return this.#bdat(args, has('CHUNKING'), out);
      case 'RSET':
        if (args.trim() !== '') return this.#error(Reply.badArgument('RSET takes no argument'), { verb, args }, out);
        this.#abandon(out);
        if (s.kind !== 'fresh') this.#state = { kind: 'greeted', esmtp: s.esmtp };
        out.push(this.#send(Reply.reset(), { verb, args }));
        return;
      case 'NOOP':
        out.push(this.#send(Reply.ok(), { verb, args }));
        return;
      case 'QUIT':
        this.#abandon(out);
        // The classic service logged QUIT with status 240; keep that for log readers.
        out.push(this.#send(Reply.bye(), { verb, args, status: 240 }), { kind: 'close' });
        this.#closed = true;
        return;
      case 'VRFY':
      case 'EXPN': {
        const enabled = verb === 'VRFY' ? this.#o.vrfy === 'cannot' : this.#o.expn;
        if (!enabled) return this.#error(Reply.notImplemented(), { verb, args }, out);
        if (args.trim() === '') return this.#error(Reply.badArgument(`${verb} requires an argument`), { verb, args }, out);
        out.push(this.#send(Reply.vrfyCannot(), { verb, args }));
        return;
      }
      case 'HELP':
        if (!this.#o.extensions.has('HELP')) return this.#error(Reply.notImplemented(), { verb, args }, out);
        out.push(this.#send(Reply.help(), { verb, args }));
        return;
      case 'ETRN': {
        if (!this.#o.extensions.has('ETRN')) return this.#error(Reply.notImplemented(), { verb, args }, out);
        if (s.kind === 'fresh') return this.#error(Reply.badSequence('send HELO/EHLO first'), { verb, args }, out);
        if (s.kind !== 'greeted') return this.#error(Reply.badSequence('ETRN is not allowed during a mail transaction'), { verb, args }, out);
        // RFC 1985 5: "domain", "@domain" (and subdomains) or "#queue".
        const node = args.trim();
        if (!/^[@#]?[A-Za-z0-9.-]+$/.test(node)) return this.#error(Reply.badArgument('ETRN <domain>'), { verb, args }, out);
        const refusal = this.#o.etrnPolicy(node.toLowerCase(), this.#user);
        if (refusal !== undefined) return this.#error(refusal, { verb, args }, out);
        out.push(this.#send(Reply.etrnStarted(node), { verb, args }), { kind: 'etrn', domain: node.toLowerCase() });
        return;
      }
      case 'STARTTLS': {
        if (!this.#offersStartTls()) return this.#error(this.#tls ? Reply.badSequence('TLS is already active') : Reply.unknownCommand(), { verb, args }, out);
        if (args !== '') return this.#error(Reply.syntax('STARTTLS takes no argument'), { verb, args }, out);
        this.#abandon(out);
        out.push(this.#send(Reply.tlsReady(), { verb, args }), { kind: 'starttls' });
        this.#tlsPending = true;
        return;
      }
      case 'AUTH':
        return this.#auth(args, out);
      default:
        return this.#error(Reply.unknownCommand(), { verb, args }, out);
    }
  }

  /** The one place that checks the listener's TLS and AUTH requirements (RFC 3207 4, RFC 4954 6). */
  #gate(verb: string): Reply | undefined {
    if (!GATED.has(verb)) return undefined;
    if (this.#o.tls === 'required' && !this.#tls) return Reply.tlsRequired();
    if (verb !== 'AUTH' && this.#o.auth === 'required' && this.#user === undefined) return Reply.authRequired();
    return undefined;
  }

  #offersStartTls(): boolean {
    return !this.#tls && (this.#o.tls === 'optional' || this.#o.tls === 'required');
  }

  #offersAuth(): boolean {
    return this.#o.auth !== 'off' && (this.#tls || this.#o.authCleartext);
  }

  #auth(args: string, out: SessionAction[]): void {
    const [mechanism = '', initial, extra] = args.split(' ');
    // The initial response carries the password: only the mechanism is ever logged.
    const log = { verb: 'AUTH', args: mechanism };
    if (this.#o.auth === 'off') return this.#error(Reply.notImplemented(), log, out);
    if (!this.esmtp) return this.#error(Reply.badSequence('send EHLO first'), log, out);
    if (!this.#offersAuth()) return this.#error(Reply.authNeedsEncryption(), log, out);
    if (this.#user !== undefined) return this.#error(Reply.badSequence('already authenticated'), log, out);
    if (this.#state.kind !== 'greeted') return this.#error(Reply.badSequence('AUTH is not allowed during a mail transaction'), log, out);
    const name = mechanism.toUpperCase();
    if (!isSaslMechanism(name) || extra !== undefined) return this.#error(Reply.authMechanism(), log, out);
    const exchange = new SaslExchange(name);
    this.#saslStep(exchange, exchange.start(initial), out);
  }

  #saslStep(exchange: SaslExchange, step: SaslStep, out: SessionAction[]): void {
    this.#sasl = undefined;
    if ('challenge' in step) {
      this.#sasl = exchange;
      out.push(this.#send(Reply.authChallenge(step.challenge)));
    } else if ('refuse' in step) {
      this.#error(step.refuse, { verb: 'AUTH', args: exchange.mechanism }, out);
    } else {
      this.#waiting = 'auth';
      out.push({ kind: 'auth', mechanism: exchange.mechanism, ...step.credentials });
    }
  }

  #bdat(args: string, enabled: boolean, out: SessionAction[]): void {
    const log = { verb: 'BDAT', args };
    const parsed = parseBdatArgs(args);
    if (parsed === undefined) {
      // Without a valid size the chunk cannot be located; nothing is consumed.
      return this.#error(enabled ? Reply.badArgument('BDAT <size> [LAST]') : Reply.unknownCommand(), log, out);
    }
    const s = this.#state;
    let refusal: Reply | undefined;
    if (!enabled) refusal = Reply.unknownCommand();
    else if (s.kind === 'fresh' || s.kind === 'greeted') refusal = Reply.badSequence('need MAIL and RCPT before BDAT');
    else if (s.kind === 'mail' && s.rcpts.length === 0) refusal = Reply.noValidRecipients();
    else if (s.kind === 'body' && s.method === 'DATA') refusal = Reply.badSequence('DATA and BDAT cannot be mixed');

    if (refusal === undefined && s.kind === 'mail') {
      const tx: Transaction = { ...s.tx, rcpts: s.rcpts };
      this.#state = { kind: 'body', esmtp: s.esmtp, tx, method: 'BDAT', size: 0, chunks: 0, overflow: false, hops: new HopCounter() };
      out.push({ kind: 'begin', transaction: tx, method: 'BDAT' });
    }
    const body = this.#state;
    if (refusal === undefined && body.kind === 'body') {
      body.chunks++;
      if (!body.overflow && body.size + parsed.size > this.#o.maxMessageSize) {
        body.overflow = true;
        out.push({ kind: 'discard', reason: 'message size limit exceeded' });
      }
      body.size += parsed.size;
    }
    this.#mode = { kind: 'chunk', remaining: parsed.size, last: parsed.last, size: parsed.size, refusal, args };
    if (parsed.size === 0) this.#endChunk(this.#mode, out);
  }

  #readChunk(mode: Mode & { kind: 'chunk' }, buf: Buffer, pos: number, out: SessionAction[]): number {
    const take = Math.min(mode.remaining, buf.length - pos);
    const s = this.#state;
    if (mode.refusal === undefined && s.kind === 'body' && !s.overflow && this.#hopsWithinLimit(s, buf.subarray(pos, pos + take), out)) {
      out.push({ kind: 'body', bytes: buf.subarray(pos, pos + take) });
    }
    mode.remaining -= take;
    if (mode.remaining === 0) this.#endChunk(mode, out);
    return pos + take;
  }

  #endChunk(mode: Mode & { kind: 'chunk' }, out: SessionAction[]): void {
    this.#mode = { kind: 'command' };
    const log = { verb: 'BDAT', args: mode.args };
    if (mode.refusal !== undefined) return this.#error(mode.refusal, log, out);
    const s = this.#state;
    if (s.kind !== 'body') return;
    if (s.overflow) {
      // RFC 3030 2: after a failed chunk the transaction is over; later chunks get 503.
      this.#state = { kind: 'greeted', esmtp: s.esmtp };
      out.push(this.#send(Reply.sizeExceeded(this.#o.maxMessageSize), log));
      return;
    }
    if (!mode.last) {
      out.push(this.#send(Reply.chunkOk(mode.size), log));
      return;
    }
    if (this.#tooManyHops(s)) {
      this.#state = { kind: 'greeted', esmtp: s.esmtp };
      out.push(this.#send(Reply.tooManyHops(s.hops.count + 1, this.#o.maxHops), log));
      return;
    }
    this.#waiting = 'commit';
    out.push({ kind: 'commit', message: { transaction: s.tx, method: 'BDAT', chunks: s.chunks, size: s.size } });
    // The 250 is sent by committed(); it is logged there against this BDAT.
    this.#lastChunkLog = log;
  }

  #readData(reader: DataReader, buf: Buffer, pos: number, out: SessionAction[]): number {
    const s = this.#state;
    const fed = reader.feed(buf, pos);
    if (s.kind !== 'body') return pos + fed.consumed;
    for (const bytes of fed.body) {
      s.size += bytes.length;
      if (!s.overflow && s.size > this.#o.maxMessageSize) {
        s.overflow = true;
        out.push({ kind: 'discard', reason: 'message size limit exceeded' });
      }
      if (!s.overflow && reader.violation === undefined && this.#hopsWithinLimit(s, bytes, out)) out.push({ kind: 'body', bytes });
    }
    if (fed.done) {
      this.#mode = { kind: 'command' };
      const log = { verb: 'DATA', args: '' };
      if (s.overflow || reader.violation !== undefined || this.#tooManyHops(s)) {
        this.#state = { kind: 'greeted', esmtp: s.esmtp };
        if (!s.overflow && reader.violation !== undefined) out.push({ kind: 'discard', reason: reader.violation });
        const r = s.overflow ? Reply.sizeExceeded(this.#o.maxMessageSize)
          : reader.violation === 'line-too-long' ? Reply.lineTooLong()
          : reader.violation === 'bare-line-ending' ? Reply.bareLineEnding()
          : Reply.tooManyHops(s.hops.count + 1, this.#o.maxHops);
        out.push(this.#send(r, log));
      } else {
        this.#waiting = 'commit';
        out.push({ kind: 'commit', message: { transaction: s.tx, method: 'DATA', chunks: 0, size: s.size } });
      }
    }
    return pos + fed.consumed;
  }

  /**
   * Counts hops in the header section (RFC 5321 6.3). The message is discarded as soon as it has too
   * many, but the rest of its body is still read, and refused at its end, so the session stays in step.
   */
  #hopsWithinLimit(s: State & { kind: 'body' }, bytes: Buffer, out: SessionAction[]): boolean {
    if (s.hops.done) return !this.#tooManyHops(s);
    const before = this.#tooManyHops(s);
    s.hops.feed(bytes);
    if (this.#tooManyHops(s) && !before) out.push({ kind: 'discard', reason: `too many hops: ${s.hops.count + 1} Received: fields (at most ${this.#o.maxHops}); mail loop?` });
    return !this.#tooManyHops(s);
  }

  /** The shell's own Received: field counts too. */
  #tooManyHops(s: State & { kind: 'body' }): boolean {
    return s.hops.count + 1 > this.#o.maxHops;
  }

  /** Drops the current transaction; a message being received is discarded. */
  #abandon(out: SessionAction[]): void {
    if (this.#state.kind === 'body') out.push({ kind: 'discard', reason: 'transaction reset' });
    if (this.#state.kind !== 'fresh') this.#state = { kind: 'greeted', esmtp: this.#state.esmtp };
  }

  #ehloReply(): Reply {
    const lines = [`${this.#o.hostname} Hello ${this.#helo} [${this.#o.clientIp}]`];
    for (const ext of this.#o.extensions) lines.push(ext === 'SIZE' ? `SIZE ${this.#o.maxMessageSize}` : ext);
    if (this.#offersStartTls()) lines.push('STARTTLS');
    // RFC 8689 4.1: REQUIRETLS is offered inside TLS only.
    if (this.#tls) lines.push('REQUIRETLS');
    if (this.#offersAuth()) lines.push('AUTH PLAIN LOGIN');
    return { code: 250, lines };
  }

  #error(r: Reply, log: { verb: string; args: string } | undefined, out: SessionAction[]): void {
    out.push(this.#send(r, log));
    if (r.code >= 500 && ++this.#errors >= this.#o.maxErrors) {
      this.#abandon(out);
      out.push(this.#send(Reply.tooManyErrors()), { kind: 'close' });
      this.#closed = true;
    }
  }

  #send(r: Reply, log?: { verb: string; args: string; status?: number }): SessionAction {
    const text = formatReply(r, this.#o.extensions.has('ENHANCEDSTATUSCODES'));
    return log === undefined ? { kind: 'send', text } : { kind: 'send', text, log: { verb: log.verb, args: log.args, status: log.status ?? r.code } };
  }
}
