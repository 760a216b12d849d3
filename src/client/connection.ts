/**
 * One outbound SMTP connection: connect, read replies with the sans-I/O ReplyParser, send commands
 * (one write per pipelined group), stream bytes with backpressure. Every command and reply is
 * reported to `log` so the W3C log can show outbound sessions as the classic service did.
 */
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { ReplyParser, type PeerReply } from '../protocol/reply-parser.js';

export interface ConnectOptions {
  readonly host: string;
  readonly port: number;
  readonly connectTimeoutMs: number;
  /** Applies to every wait for a reply (RFC 5321 4.5.3.2 suggests minutes; tests use less). */
  readonly replyTimeoutMs: number;
  readonly log?: (direction: 'command' | 'response', text: string) => void;
}

export class SmtpFailure extends Error {
  /** Where it happened: 'connect', 'greeting', a verb, 'BDAT', 'DATA-body'. */
  readonly stage: string;
  /** No reply came in time (the peer or the path is silent), as opposed to a close or an error. */
  readonly timeout: boolean;
  constructor(stage: string, message: string, timeout = false) {
    super(message);
    this.stage = stage;
    this.timeout = timeout;
  }
}

/** What STARTTLS gave: protocol version and whether the peer's certificate verified. */
export interface TlsState {
  readonly protocol: string;
  readonly cipher: string;
  readonly authorized: boolean;
  readonly authorizationError?: string;
}

export class ClientConnection {
  #socket: Socket;
  readonly #o: ConnectOptions;
  #parser = new ReplyParser();
  #tls: TlsState | undefined;
  #ready: PeerReply[] = [];
  #waiter: { resolve: (r: PeerReply) => void; reject: (e: Error) => void } | undefined;
  #failure: Error | undefined;

  private constructor(socket: Socket, options: ConnectOptions) {
    this.#socket = socket;
    this.#o = options;
    socket.setNoDelay(true);
    this.#attach(socket);
  }

  #attach(socket: Socket): void {
    socket.on('data', (bytes: Buffer) => {
      try {
        for (const r of this.#parser.feed(bytes)) {
          this.#o.log?.('response', `${r.code}${r.enhanced === undefined ? '' : ` ${r.enhanced}`} ${r.lines.join(' ')}`);
          if (this.#waiter !== undefined) {
            const w = this.#waiter;
            this.#waiter = undefined;
            w.resolve(r);
          } else this.#ready.push(r);
        }
      } catch (e) {
        this.#fail(e instanceof Error ? e : new Error(String(e)));
        socket.destroy();
      }
    });
    socket.on('error', (e) => this.#fail(e));
    socket.on('close', () => this.#fail(new Error('connection closed by peer')));
  }

  static open(options: ConnectOptions): Promise<ClientConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: options.host, port: options.port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new SmtpFailure('connect', `connect to ${options.host}:${options.port} timed out`));
      }, options.connectTimeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new ClientConnection(socket, options));
      });
      socket.once('error', (e) => {
        clearTimeout(timer);
        reject(new SmtpFailure('connect', `connect to ${options.host}:${options.port}: ${e.message}`));
      });
    });
  }

  get tls(): TlsState | undefined {
    return this.#tls;
  }

  /**
   * Upgrades after the peer's 220 to STARTTLS (RFC 3207). Replies that arrived before the handshake
   * are dropped: a device on the path could have injected them. With `verify`, the certificate must
   * chain to a trusted CA (`ca` or the system's) and match `servername`, or this rejects.
   */
  async startTls(servername: string, verify: boolean, ca?: readonly string[]): Promise<TlsState> {
    const plain = this.#socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('error');
    plain.removeAllListeners('close');
    this.#ready = [];
    this.#parser = new ReplyParser();
    const secure: TLSSocket = await new Promise((resolve, reject) => {
      const s = tlsConnect({ socket: plain, servername, rejectUnauthorized: verify, ...(ca === undefined ? {} : { ca: [...ca] }) });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new SmtpFailure('TLS', `TLS handshake with ${this.#o.host} timed out`));
      }, this.#o.replyTimeoutMs);
      s.once('secureConnect', () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', (e) => {
        clearTimeout(timer);
        s.destroy();
        reject(new SmtpFailure('TLS', `TLS handshake with ${this.#o.host}: ${e.message}`));
      });
    });
    this.#socket = secure;
    this.#attach(secure);
    const cipher = secure.getCipher();
    this.#tls = {
      protocol: secure.getProtocol() ?? 'TLS',
      cipher: cipher.name,
      authorized: secure.authorized,
      ...(secure.authorizationError === null || secure.authorizationError === undefined ? {} : { authorizationError: String(secure.authorizationError) }),
    };
    return this.#tls;
  }

  get remoteAddress(): string {
    return this.#socket.remoteAddress ?? this.#o.host;
  }

  /** The next reply; rejects on timeout (`timeoutMs`, else the reply timeout), close or a malformed reply. */
  reply(stage: string, timeoutMs = this.#o.replyTimeoutMs): Promise<PeerReply> {
    const ready = this.#ready.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.#failure !== undefined) return Promise.reject(new SmtpFailure(stage, this.#failure.message));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        const e = new SmtpFailure(stage, `no reply within ${timeoutMs} ms`, true);
        this.#fail(e);
        this.#socket.destroy();
        reject(e);
      }, timeoutMs);
      this.#waiter = {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(new SmtpFailure(stage, e.message));
        },
      };
    });
  }

  /** Sends command lines in one write (a pipelined group, RFC 2920) and logs each. */
  async send(lines: readonly string[]): Promise<void> {
    for (const l of lines) this.#o.log?.('command', l);
    await this.write(Buffer.from(lines.map((l) => `${l}\r\n`).join(''), 'utf8'));
  }

  /** Logs a command whose bytes go out with content (a BDAT header). */
  logCommand(line: string): void {
    this.#o.log?.('command', line);
  }

  async command(line: string, stage = line.split(' ')[0] ?? line): Promise<PeerReply> {
    await this.send([line]);
    return this.reply(stage);
  }

  /** Writes bytes (several buffers go out together, uncopied); resolves when the socket can take more. */
  write(bytes: Buffer | readonly Buffer[]): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    let ok = true;
    if (Buffer.isBuffer(bytes)) ok = this.#socket.write(bytes);
    else {
      this.#socket.cork();
      for (const b of bytes) ok = this.#socket.write(b);
      this.#socket.uncork();
    }
    if (ok) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onDrain = (): void => {
        this.#socket.off('close', onClose);
        resolve();
      };
      const onClose = (): void => {
        this.#socket.off('drain', onDrain);
        reject(this.#failure ?? new Error('connection closed'));
      };
      this.#socket.once('drain', onDrain);
      this.#socket.once('close', onClose);
    });
  }

  /** Polite end: QUIT, then close whatever the answer. */
  async quit(): Promise<void> {
    if (this.#failure === undefined) {
      await this.command('QUIT').catch(() => undefined);
    }
    this.#socket.destroy();
  }

  destroy(): void {
    this.#socket.destroy();
  }

  #fail(e: Error): void {
    this.#failure ??= e;
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.reject(e);
  }
}
