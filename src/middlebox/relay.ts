/**
 * One client's connection through the middlebox (proxy.ts): its upstream connection, both directions
 * parsed until STARTTLS succeeds, and the distortions of the box's mode applied on the way.
 */
import { connect, type Socket } from 'node:net';
import { UpstreamWriter } from './upstream-writer.js';
import { CommandSplitter, ReplySplitter, maskEhloKeywords, stripEhloKeyword, type CommandEvent, type Reply } from './smtp-stream.js';
import type { MiddleboxMode, MiddleboxOptions } from './modes.js';

const BDAT_REFUSED = Buffer.from('500 5.5.1 Command unrecognized\r\n', 'latin1');
const STARTTLS_REFUSED = Buffer.from('502 5.5.1 Command not implemented\r\n', 'latin1');
const MASKED_BANNER = Buffer.from('220 ******************************\r\n', 'latin1');
const MASKED_WORDS = ['CHUNKING', 'BINARYMIME'];

/** What the next server reply answers, in command order; 'local' replies are the box's own. */
type Expect = { kind: 'ehlo' | 'starttls' | 'data' | 'other' } | { kind: 'local'; reply: Buffer };

export class Relay {
  readonly #client: Socket;
  readonly #upstream: Socket;
  readonly #mode: MiddleboxMode;
  readonly #tarpitMs: number;
  readonly #log: (line: string) => void;
  readonly #peer: string;
  readonly #commands = new CommandSplitter();
  readonly #replies = new ReplySplitter();
  readonly #expect: Expect[] = [];
  #greeted = false;
  #opaque = false;
  /** Client bytes that arrived after STARTTLS, kept raw until we know whether TLS starts. */
  #heldForTls: Buffer[] | undefined;
  #swallowing = false;
  #blackhole = false;
  #closed = false;
  /** BDAT transactions seen on this connection, and whether one is open (its LAST not yet seen). */
  #bdatTransactions = 0;
  #inBdat = false;
  /** Release time of the current BDAT chunk's bytes (tarpit only). */
  #chunkHoldUntil = 0;
  readonly #toServer: UpstreamWriter;
  #clientGone = false;

  constructor(client: Socket, options: MiddleboxOptions) {
    this.#client = client;
    this.#mode = options.mode;
    this.#tarpitMs = options.tarpitMs ?? 5000;
    this.#log = options.log ?? ((): void => undefined);
    this.#peer = client.remoteAddress ?? 'unknown';
    this.#upstream = connect(options.upstream.port, options.upstream.host);
    const up = this.#upstream;
    this.#toServer = new UpstreamWriter(client, up);
    client.on('data', (b: Buffer) => this.#fromClient(b));
    up.on('data', (b: Buffer) => this.#fromUpstream(b));
    client.on('error', () => undefined);
    up.on('error', (e) => {
      if (this.#closed || this.#clientGone) return;
      this.#log(`upstream ${options.upstream.host}:${options.upstream.port} failed: ${e.message}`);
    });
    up.on('close', (hadError) => {
      this.#toServer.stop();
      if (hadError) client.destroy();
      else client.end();
    });
    client.on('close', (hadError) => {
      this.#clientGone = true;
      if (hadError || this.#closed) {
        this.#toServer.stop();
        up.destroy();
      } else this.#toServer.endWhenFlushed();
    });
  }

  #fromClient(bytes: Buffer): void {
    if (this.#blackhole || this.#closed) return;
    if (this.#opaque) return this.#toServer.write(bytes, 0);
    if (this.#heldForTls !== undefined) {
      this.#heldForTls.push(bytes);
      return;
    }
    this.#commands.push(bytes);
    this.#pumpCommands();
  }

  #pumpCommands(): void {
    while (this.#heldForTls === undefined && !this.#blackhole && !this.#closed && !this.#opaque) {
      const event = this.#commands.next();
      if (event === undefined) return;
      this.#onCommandEvent(event);
    }
  }

  #onCommandEvent(event: CommandEvent): void {
    if (event.kind === 'content') return this.#toServer.write(event.data, 0);
    if (event.kind === 'chunk') {
      if (this.#swallowing) {
        if (event.end) this.#swallowing = false;
        return;
      }
      return this.#toServer.write(event.data, this.#chunkHoldUntil);
    }
    const { verb, bdat } = event;
    let holdUntil = 0;
    if (verb === 'MAIL' || verb === 'RSET') this.#inBdat = false;
    if (verb === 'BDAT') {
      if (!this.#inBdat) this.#bdatTransactions++;
      this.#inBdat = bdat !== undefined && !bdat.last;
      switch (this.#mode) {
        case 'drop-bdat':
          return this.#drop('dropped BDAT');
        case 'drop-second-bdat':
          // Seen on devices that inspect only a connection's first transaction properly.
          if (this.#bdatTransactions >= 2) return this.#drop('dropped the second BDAT transaction');
          break;
        case 'reset-after-bdat':
          this.#log(`reset the connection from ${this.#peer} at BDAT`);
          this.#closed = true;
          this.#toServer.stop();
          this.#client.resetAndDestroy();
          this.#upstream.destroy();
          return;
        case 'mask-keywords':
          this.#log(`refused BDAT from ${this.#peer} with 500`);
          this.#swallowing = bdat !== undefined && bdat.size > 0;
          this.#localReply(BDAT_REFUSED);
          return;
        case 'tarpit-chunks':
          if (bdat !== undefined && !bdat.last) {
            this.#chunkHoldUntil = Date.now() + this.#tarpitMs;
            holdUntil = this.#chunkHoldUntil;
            this.#log(`held BDAT ${bdat.size} from ${this.#peer} for ${this.#tarpitMs} ms`);
          } else this.#chunkHoldUntil = 0;
          break;
        default:
          break;
      }
    }
    if (verb === 'STARTTLS' && this.#mode === 'strip-starttls') {
      this.#log(`refused STARTTLS from ${this.#peer} with 502`);
      this.#localReply(STARTTLS_REFUSED);
      return;
    }
    this.#toServer.write(event.raw, holdUntil);
    const kind =
      verb === 'EHLO' ? 'ehlo' : verb === 'STARTTLS' ? 'starttls' : verb === 'DATA' && this.#commands.mode === 'content' ? 'data' : 'other';
    this.#expect.push({ kind });
    // Whatever follows STARTTLS may be a TLS hello: not ours to parse until the server has answered.
    if (kind === 'starttls') this.#heldForTls = [this.#commands.takeBuffered()];
  }

  /** A black hole: nothing more from the client reaches the server, nothing is answered. */
  #drop(what: string): void {
    this.#log(`${what} from ${this.#peer}`);
    this.#blackhole = true;
    this.#commands.takeBuffered();
  }

  /** The box's own answer, queued behind replies still owed for earlier (pipelined) commands. */
  #localReply(reply: Buffer): void {
    if (this.#greeted && this.#expect.length === 0) this.#toClient(reply);
    else this.#expect.push({ kind: 'local', reply });
  }

  #fromUpstream(bytes: Buffer): void {
    if (this.#closed) return;
    if (this.#opaque) return this.#toClient(bytes);
    this.#replies.push(bytes);
    for (let reply = this.#replies.next(); reply !== undefined && !this.#opaque; reply = this.#replies.next()) this.#onReply(reply);
  }

  #onReply(reply: Reply): void {
    if (!this.#greeted) {
      this.#greeted = true;
      if (this.#mode === 'mask-banner' && reply.code === 220) {
        this.#log(`masked the banner for ${this.#peer}`);
        this.#toClient(MASKED_BANNER);
      } else this.#toClient(reply.raw);
      return this.#flushLocal();
    }
    const expect = this.#expect.shift();
    let out = reply.raw;
    if (expect?.kind === 'ehlo' && reply.code === 250) out = this.#rewriteEhlo(reply);
    this.#toClient(out);
    if (expect?.kind === 'data') {
      // 354 means the content's own reply is owed next; otherwise the client goes on with commands.
      if (reply.code === 354) this.#expect.unshift({ kind: 'other' });
      else {
        this.#commands.abortContent();
        this.#pumpCommands();
      }
    }
    if (expect?.kind === 'starttls') this.#afterStarttls(reply.code === 220);
    this.#flushLocal();
  }

  #rewriteEhlo(reply: Reply): Buffer {
    if (this.#mode === 'mask-keywords') {
      const masked = maskEhloKeywords(reply, MASKED_WORDS);
      if (masked === undefined) return reply.raw;
      for (const word of masked.masked) this.#log(`masked ${word} as ${'X'.repeat(word.length - 1)}A`);
      return masked.reply;
    }
    if (this.#mode === 'strip-starttls') {
      const stripped = stripEhloKeyword(reply, 'STARTTLS');
      if (stripped === undefined) return reply.raw;
      this.#log(`stripped STARTTLS from the EHLO reply to ${this.#peer}`);
      return stripped;
    }
    return reply.raw;
  }

  #afterStarttls(started: boolean): void {
    const held = Buffer.concat(this.#heldForTls ?? []);
    this.#heldForTls = undefined;
    if (started) {
      this.#opaque = true;
      const early = this.#replies.takeBuffered();
      if (early.length > 0) this.#toClient(early);
      if (held.length > 0) this.#toServer.write(held, 0);
      return;
    }
    this.#commands.push(held);
    this.#pumpCommands();
  }

  #flushLocal(): void {
    for (let head = this.#expect[0]; head?.kind === 'local'; head = this.#expect[0]) {
      this.#expect.shift();
      this.#toClient(head.reply);
    }
  }

  #toClient(data: Buffer): void {
    if (this.#client.destroyed) return;
    if (!this.#client.write(data) && !this.#upstream.isPaused()) {
      this.#upstream.pause();
      this.#client.once('drain', () => this.#upstream.resume());
    }
  }
}
