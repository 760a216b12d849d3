/**
 * A deliberately simple SMTP client for tests: writes exactly the bytes it is given and reads
 * replies (RFC 5321 4.2: lines "ddd-text" ... "ddd text"). No library, so tests control every byte.
 */
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

export interface SmtpReply {
  readonly code: number;
  readonly lines: readonly string[];
  /** The whole reply as received, CRLFs included. */
  readonly raw: string;
}

export class RawSmtp {
  #socket: Socket;
  #buffer = '';
  #waiters: Array<() => void> = [];
  #ended = false;
  /** Socket reads that brought bytes: tells replies written together from replies written apart. */
  reads = 0;

  private constructor(socket: Socket) {
    this.#socket = socket;
    this.#listen(socket);
  }

  #listen(socket: Socket): void {
    socket.setNoDelay(true);
    socket.on('data', (b: Buffer) => {
      this.reads++;
      this.#buffer += b.toString('latin1');
      this.#wake();
    });
    const end = (): void => {
      this.#ended = true;
      this.#wake();
    };
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', end);
  }

  /** `localAddress`: the address to connect from (another loopback address, such as 127.0.0.2). */
  static connect(port: number, host = '127.0.0.1', localAddress?: string): Promise<RawSmtp> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host, localAddress }, () => resolve(new RawSmtp(socket)));
      socket.once('error', reject);
    });
  }

  /** Implicit TLS (RFC 8314): the handshake before the greeting. The certificate is not checked. */
  static async connectTls(port: number, host = '127.0.0.1', localAddress?: string): Promise<RawSmtp> {
    const socket = await new Promise<TLSSocket>((resolve, reject) => {
      // From a chosen address: over a TCP socket connected from it (tls.connect's own options have no localAddress).
      const tcp = localAddress === undefined ? undefined : connect({ port, host, localAddress });
      const s = tlsConnect({ port, host, socket: tcp, rejectUnauthorized: false }, () => resolve(s));
      s.once('error', reject);
    });
    return new RawSmtp(socket);
  }

  /**
   * Upgrades after a 220 to STARTTLS. Returns whatever clear-text bytes the server had sent after
   * that 220 (there must be none: a server that answers injected commands is vulnerable).
   */
  async startTls(): Promise<{ leftover: string; socket: TLSSocket }> {
    const plain = this.#socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('end');
    plain.removeAllListeners('close');
    plain.removeAllListeners('error');
    const leftover = this.#buffer;
    this.#buffer = '';
    const socket = await new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect({ socket: plain, rejectUnauthorized: false }, () => resolve(s));
      s.once('error', reject);
    });
    this.#socket = socket;
    this.#listen(socket);
    return { leftover, socket };
  }

  get socket(): Socket {
    return this.#socket;
  }

  /** True once the server closed the connection. */
  get ended(): boolean {
    return this.#ended;
  }

  send(bytes: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.#socket.write(bytes, (e) => (e ? reject(e) : resolve())));
  }

  /** Reads one complete reply; rejects if the connection ends first or after `timeoutMs`. */
  async reply(timeoutMs = 10_000): Promise<SmtpReply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const parsed = this.#take();
      if (parsed !== undefined) return parsed;
      if (this.#ended) throw new Error(`connection closed while waiting for a reply (buffer: ${JSON.stringify(this.#buffer)})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply within ${timeoutMs} ms (buffer: ${JSON.stringify(this.#buffer)})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async replies(n: number): Promise<SmtpReply[]> {
    const out: SmtpReply[] = [];
    for (let i = 0; i < n; i++) out.push(await this.reply());
    return out;
  }

  /** Sends a command line and returns its reply. */
  async command(line: string): Promise<SmtpReply> {
    await this.send(`${line}\r\n`);
    return this.reply();
  }

  /** Resolves when the server has closed the connection. */
  async closed(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#ended) {
      if (Date.now() > deadline) throw new Error('connection still open');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  close(): void {
    this.#socket.destroy();
  }

  #take(): SmtpReply | undefined {
    let start = 0;
    const lines: string[] = [];
    for (;;) {
      const end = this.#buffer.indexOf('\r\n', start);
      if (end < 0) return undefined;
      const line = this.#buffer.slice(start, end);
      lines.push(line);
      start = end + 2;
      if (line.length < 4 || line[3] === ' ') {
        const raw = this.#buffer.slice(0, start);
        this.#buffer = this.#buffer.slice(start);
        return { code: Number(line.slice(0, 3)), lines: lines.map((l) => l.slice(4)), raw };
      }
    }
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}
