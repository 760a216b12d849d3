/**
 * One mail transaction from the sending side, sans I/O (driven by client-session.ts): MAIL and RCPT
 * (pipelined when offered, RFC 2920), then the content by BDAT (RFC 3030) when CHUNKING is offered
 * and allowed, else DATA with dot-stuffing (RFC 5321 4.5.2). Replies in; bytes to send, the class
 * of the reply awaited, and one typed outcome out. Every recipient gets an outcome.
 */
import { BdatFramer, type FramePiece } from './bdat-framer.js';
import { conversionFor, convertedSize, mailCommand, precheck, rcptCommands, recipientOutcome, summary } from './client-envelope.js';
import type {
  ClientAction,
  ClientMessage,
  ClientOutcome,
  PeerCapabilities,
  RecipientOutcome,
  ReplyClass,
  Stage,
  TransactionOptions,
} from './client-types.js';
import { DotStuffer } from './dot-stuffer.js';
import type { PeerReply } from './reply-parser.js';

type Expect = 'mail' | 'rcpt' | 'data' | 'chunk' | 'end' | 'rset';
interface Expected {
  readonly tag: Expect;
  readonly cls: ReplyClass;
  readonly stage: Stage;
}

export const sendLines = (lines: readonly string[]): ClientAction => ({
  kind: 'send',
  bytes: Buffer.from(lines.map((l) => `${l}\r\n`).join(''), 'latin1'),
  log: lines,
});
/** 500, 502 and 504 say BDAT itself was not understood: a device on the path answered for a peer that advertised CHUNKING. */
const UNRECOGNISED: ReadonlySet<number> = new Set([500, 502, 504]);

export class ClientTransaction {
  readonly #message: ClientMessage;
  readonly #caps: PeerCapabilities;
  readonly #pipelining: boolean;
  readonly #converted: string | undefined;
  readonly #framer: BdatFramer | undefined;
  readonly #stuffer = new DotStuffer();
  readonly #queue: Expected[] = [];
  readonly #rcptLines: string[];
  readonly #rcptReplies: PeerReply[] = [];
  #mailReply: PeerReply | undefined;
  #accepted: number[] = [];
  #streaming = false;
  /** A chunk's reply must come before anything more is sent; what the content adds meanwhile waits here. */
  #blocked = false;
  #deferred: FramePiece[] = [];
  #bdatFailure: PeerReply | undefined;
  #pending: ClientOutcome | undefined;
  #outcome: ClientOutcome | undefined;

  constructor(message: ClientMessage, caps: PeerCapabilities, options: TransactionOptions) {
    const useBdat = options.allowBdat && caps.keywords.has('CHUNKING');
    this.#caps = caps;
    this.#converted = conversionFor(message.body, caps, useBdat, options.allowBinarymime);
    this.#message = this.#converted === undefined ? message : { ...message, body: '7BIT', size: convertedSize(message.size) };
    this.#pipelining = options.allowPipelining && caps.keywords.has('PIPELINING');
    if (useBdat)
      this.#framer = new BdatFramer(options.chunkSize, this.#converted === undefined ? message.size : undefined, options.bdatCheckBytes);
    this.#rcptLines = rcptCommands(this.#message, caps);
    const refused = precheck(message, caps);
    if (refused !== undefined) this.#outcome = { kind: 'unsendable', recipients: refused };
  }

  /** Set once the transaction is over. */
  get outcome(): ClientOutcome | undefined {
    return this.#outcome;
  }

  get awaiting(): ReplyClass | undefined {
    return this.#queue[0]?.cls;
  }

  get stage(): Stage {
    return this.#queue[0]?.stage ?? (this.#framer !== undefined && this.#streaming ? 'BDAT' : this.#streaming ? 'DATA' : 'MAIL');
  }

  /** The shell may feed content: streaming, nothing failed, no health-check reply outstanding. */
  get wantsBody(): boolean {
    return (
      this.#streaming && this.#outcome === undefined && this.#bdatFailure === undefined && !this.#blocked && this.#deferred.length === 0
    );
  }

  start(): ClientAction[] {
    if (this.#outcome !== undefined) return [{ kind: 'outcome', outcome: this.#outcome }];
    const mail = mailCommand(this.#message, this.#caps);
    this.#expect('mail', 'command', 'MAIL');
    if (!this.#pipelining) return [sendLines([mail])];
    for (const _ of this.#rcptLines) this.#expect('rcpt', 'command', 'RCPT');
    return [sendLines([mail, ...this.#rcptLines])];
  }

  reply(r: PeerReply): ClientAction[] {
    const expected = this.#queue.shift();
    if (expected === undefined || this.#outcome !== undefined) return [];
    switch (expected.tag) {
      case 'mail':
        this.#mailReply = r;
        if (!this.#pipelining && r.code === 250 && this.#rcptLines.length > 0) return this.#nextRcpt();
        return this.#queue.length === 0 ? this.#envelopeDone() : [];
      case 'rcpt':
        this.#rcptReplies.push(r);
        if (!this.#pipelining && this.#rcptReplies.length < this.#rcptLines.length) return this.#nextRcpt();
        return this.#queue.length === 0 ? this.#envelopeDone() : [];
      case 'data':
        if (r.code !== 354) return this.#finish(this.#refused('DATA', r));
        this.#streaming = true;
        return [this.#openBody()];
      case 'chunk':
        if (r.code !== 250) this.#bdatFailure ??= r;
        return [{ kind: 'chunkAnswered', code: r.code }, ...this.#afterChunk(r)];
      case 'end':
        return this.#framer === undefined ? this.#contentDone(r) : [{ kind: 'chunkAnswered', code: r.code }, ...this.#contentDone(r)];
      case 'rset':
        return this.#pending === undefined ? [] : this.#finish(this.#pending);
      default: {
        const never: never = expected.tag;
        return never;
      }
    }
  }

  body(chunk: Buffer): ClientAction[] {
    if (!this.#streaming || this.#outcome !== undefined || this.#bdatFailure !== undefined) return [];
    if (this.#framer === undefined) return [{ kind: 'send', bytes: this.#stuffer.stuff(chunk), log: [] }];
    const pieces = this.#framer.push(chunk);
    if (pieces === undefined) return this.#local(`the content is longer than its recorded size ${this.#message.size}`);
    return this.#emit(pieces);
  }

  bodyEnd(): ClientAction[] {
    if (!this.#streaming || this.#outcome !== undefined || this.#bdatFailure !== undefined) return [];
    this.#streaming = false;
    if (this.#framer === undefined) {
      this.#expect('end', 'end-of-data', 'DATA');
      return [{ kind: 'send', bytes: this.#stuffer.end(), log: [] }];
    }
    const pieces = this.#framer.end();
    if (pieces === undefined) return this.#local(`the content is shorter than its recorded size ${this.#message.size}`);
    return this.#emit(pieces);
  }

  /** RFC 5321 3.8: a 421 ends the session at once, whatever was awaited. */
  closing(r: PeerReply): ClientOutcome {
    this.#outcome = this.#refused(this.stage, r);
    return this.#outcome;
  }

  /**
   * The connection failed (no reply in time, or closed) while a reply was awaited. After a BDAT
   * command or mid-chunk this points at the path (RFC 3030 offers no reason): a path failure.
   */
  connectionFailed(kind: 'timeout' | 'closed', reason: string): ClientOutcome {
    const cls = this.awaiting ?? 'command';
    const stage = this.stage;
    if (this.#framer !== undefined && (stage === 'BDAT' || this.#streaming)) {
      return { kind: 'pathFailure', reason: `connection lost or silent after BDAT: ${reason}` };
    }
    return kind === 'timeout' ? { kind: 'timeout', stage, replyClass: cls } : { kind: 'connectionLost', stage, reason };
  }

  #expect(tag: Expect, cls: ReplyClass, stage: Stage): void {
    this.#queue.push({ tag, cls, stage });
  }

  #nextRcpt(): ClientAction[] {
    const line = this.#rcptLines[this.#rcptReplies.length];
    if (line === undefined) return this.#envelopeDone();
    this.#expect('rcpt', 'command', 'RCPT');
    return [sendLines([line])];
  }

  #envelopeDone(): ClientAction[] {
    const mail = this.#mailReply;
    if (mail === undefined) return [];
    if (mail.code !== 250) return this.#resetThen(this.#refused('MAIL', mail));
    this.#accepted = this.#rcptReplies.flatMap((r, i) => (r.code >= 200 && r.code < 300 ? [i] : []));
    if (this.#accepted.length === 0) {
      const last = this.#rcptReplies[this.#rcptReplies.length - 1] ?? mail;
      return this.#resetThen(this.#refused('RCPT', last));
    }
    if (this.#framer !== undefined) {
      this.#streaming = true;
      return [this.#openBody()];
    }
    this.#expect('data', 'command', 'DATA');
    return [sendLines(['DATA'])];
  }

  #openBody(): ClientAction {
    return this.#converted === undefined ? { kind: 'openBody' } : { kind: 'openBody', converted: this.#converted };
  }

  /** Sends framed pieces until a health-check chunk is out; what follows waits for its reply. */
  #emit(pieces: readonly FramePiece[]): ClientAction[] {
    if (this.#blocked) {
      this.#deferred.push(...pieces);
      return [];
    }
    const out: ClientAction[] = [];
    const all = [...this.#deferred, ...pieces];
    this.#deferred = [];
    for (let i = 0; i < all.length; i++) {
      const p = all[i];
      if (p === undefined) continue;
      if (p.kind === 'header') {
        const bytes = Buffer.from(`${p.header}\r\n`, 'latin1');
        const last = p.header.endsWith(' LAST') ? { lastChunk: true } : {};
        out.push({ kind: 'send', bytes, log: [p.header], ...last });
      } else if (p.kind === 'bytes') out.push({ kind: 'send', bytes: p.data, log: [] });
      else {
        out.push({ kind: 'chunkSent', check: p.check, last: p.last, octets: p.length });
        this.#expect(p.last ? 'end' : 'chunk', p.last ? 'end-of-data' : p.check ? 'bdat-check' : 'bdat-chunk', 'BDAT');
        // Without pipelining every chunk waits for its reply (RFC 3030 2); a check chunk always does.
        if (!p.last && (p.check || !this.#pipelining)) {
          this.#blocked = true;
          this.#deferred = all.slice(i + 1);
          break;
        }
      }
    }
    return out;
  }

  #afterChunk(r: PeerReply): ClientAction[] {
    this.#blocked = false;
    if (this.#bdatFailure !== undefined) {
      this.#deferred = [];
      // Wait for the replies to chunks already sent; then the first failure is the result.
      return this.#queue.length === 0 ? this.#contentDone(r) : [];
    }
    return this.#emit([]);
  }

  #contentDone(last: PeerReply): ClientAction[] {
    const final = this.#bdatFailure ?? last;
    const method = this.#framer === undefined ? 'DATA' : 'BDAT';
    if (method === 'BDAT' && UNRECOGNISED.has(final.code)) {
      return this.#finish({ kind: 'pathFailure', reason: `BDAT answered "${summary(final).text}" although CHUNKING was advertised` });
    }
    if (final.code >= 200 && final.code < 300) {
      const converted = this.#converted === undefined ? {} : { converted: this.#converted };
      const chunks = this.#framer?.chunks ?? 0;
      return this.#finish({ kind: 'delivered', method, chunks, ...converted, recipients: this.#recipients(final, method) });
    }
    const refused = this.#refused(method, final);
    return this.#bdatFailure === undefined ? this.#finish(refused) : this.#resetThen(refused);
  }

  #recipients(final: PeerReply, stage: string): RecipientOutcome[] {
    return this.#message.rcpts.map((rc, i) => {
      const own = this.#rcptReplies[i];
      if (this.#accepted.includes(i) || own === undefined) return recipientOutcome(rc.address, final, stage);
      return recipientOutcome(rc.address, own, 'RCPT');
    });
  }

  #refused(stage: Stage, r: PeerReply): ClientOutcome {
    const recipients =
      stage === 'MAIL' ? this.#message.rcpts.map((rc) => recipientOutcome(rc.address, r, 'MAIL')) : this.#recipients(r, stage);
    return { kind: 'rejected', stage, recipients, ...summary(r) };
  }

  /** RSET after a failed transaction (RFC 5321 4.1.1.5), so the session can be used again. */
  #resetThen(outcome: ClientOutcome): ClientAction[] {
    this.#pending = outcome;
    this.#streaming = false;
    this.#expect('rset', 'command', 'RSET');
    return [sendLines(['RSET'])];
  }

  #local(reason: string): ClientAction[] {
    return this.#finish({ kind: 'localFailure', stage: 'BDAT', reason });
  }

  #finish(outcome: ClientOutcome): ClientAction[] {
    this.#outcome = outcome;
    this.#streaming = false;
    this.#queue.length = 0;
    return [{ kind: 'outcome', outcome }];
  }
}
