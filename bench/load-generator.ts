/**
 * The benchmark's own SMTP load generator (no client library): EHLO once per connection, then
 * messages back to back. With PIPELINING it sends MAIL+RCPT+BDAT (chunk included) in one write,
 * or MAIL+RCPT+DATA in one write followed by the dot-stuffed body. Large bodies are streamed with
 * backpressure; BDAT chunks are pipelined without waiting for each 250.
 */
import { connect, type Socket } from 'node:net';

export type Method = 'DATA' | 'BDAT';

/** A connection that reads SMTP replies as they arrive. */
class Connection {
  readonly socket: Socket;
  #buffer = '';
  #waiting: Array<{ resolve: (code: number) => void; reject: (e: Error) => void }> = [];
  #replies: number[] = [];
  #error: Error | undefined;

  constructor(socket: Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.#read(d.toString('latin1')));
    const fail = (e: Error): void => {
      this.#error = e;
      for (const w of this.#waiting.splice(0)) w.reject(e);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed')));
  }

  static open(port: number): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port }, () => resolve(new Connection(s)));
      s.once('error', reject);
    });
  }

  /** The text of the last multi-line reply, kept for EHLO keyword parsing. */
  lastText = '';

  reply(): Promise<number> {
    const ready = this.#replies.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.#error !== undefined) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  /** Writes, resolving once the socket accepts more (backpressure). */
  write(data: string | Buffer): Promise<void> {
    if (this.socket.write(data)) return Promise.resolve();
    return new Promise((resolve) => this.socket.once('drain', resolve));
  }

  #read(text: string): void {
    this.#buffer += text;
    let end: number;
    let start = 0;
    while ((end = this.#buffer.indexOf('\r\n', start)) >= 0) {
      const line = this.#buffer.slice(start, end);
      start = end + 2;
      this.lastText += `${line}\n`;
      if (line[3] !== '-') {
        const code = Number(line.slice(0, 3));
        const w = this.#waiting.shift();
        if (w !== undefined) w.resolve(code);
        else this.#replies.push(code);
      }
    }
    this.#buffer = this.#buffer.slice(start);
  }
}

export interface Session {
  readonly keywords: ReadonlySet<string>;
  send(message: Buffer, method: Method, chunkSize?: number): Promise<void>;
  close(): void;
}

export async function openSession(port: number, rcpt: string): Promise<Session> {
  const c = await Connection.open(port);
  expect(await c.reply(), 220, 'greeting');
  c.lastText = '';
  await c.write('EHLO bench.test\r\n');
  expect(await c.reply(), 250, 'EHLO');
  const keywords = new Set(
    c.lastText
      .split('\n')
      .slice(1)
      .map((l) => l.slice(4).split(' ')[0]?.toUpperCase() ?? ''),
  );
  const pipelining = keywords.has('PIPELINING');
  const envelope = `MAIL FROM:<bench@bench.test>\r\nRCPT TO:<${rcpt}>\r\n`;
  return {
    keywords,
    async send(message, method, chunkSize = 1024 * 1024) {
      if (method === 'BDAT') {
        if (!keywords.has('CHUNKING')) throw new Error('peer does not offer CHUNKING');
        let replies = 2;
        if (message.length <= chunkSize && pipelining) {
          await c.write(Buffer.concat([Buffer.from(`${envelope}BDAT ${message.length} LAST\r\n`), message]));
          replies++;
        } else {
          await c.write(envelope);
          for (let pos = 0; pos < message.length; pos += chunkSize) {
            const chunk = message.subarray(pos, pos + chunkSize);
            const last = pos + chunkSize >= message.length;
            await c.write(Buffer.concat([Buffer.from(`BDAT ${chunk.length}${last ? ' LAST' : ''}\r\n`), chunk]));
            replies++;
          }
        }
        for (let i = 0; i < replies; i++) expect(await c.reply(), 250, 'BDAT transaction');
        return;
      }
      if (pipelining) {
        await c.write(`${envelope}DATA\r\n`);
      } else {
        await c.write(`MAIL FROM:<bench@bench.test>\r\n`);
        expect(await c.reply(), 250, 'MAIL');
        await c.write(`RCPT TO:<${rcpt}>\r\n`);
        expect(await c.reply(), 250, 'RCPT');
        await c.write('DATA\r\n');
      }
      if (pipelining) {
        expect(await c.reply(), 250, 'MAIL');
        expect(await c.reply(), 250, 'RCPT');
      }
      expect(await c.reply(), 354, 'DATA');
      for (const piece of dotStuffed(message)) await c.write(piece);
      await c.write('.\r\n');
      expect(await c.reply(), 250, 'end of data');
    },
    close() {
      c.socket.end('QUIT\r\n');
    },
  };
}

/** RFC 5321 4.5.2 transparency, in 1 MB pieces; the message must end with CRLF. */
function* dotStuffed(message: Buffer): Generator<Buffer> {
  const piece = 1024 * 1024;
  let atLineStart = true;
  for (let pos = 0; pos < message.length; pos += piece) {
    const part = message.subarray(pos, pos + piece);
    const out: Buffer[] = [];
    let from = 0;
    if (atLineStart && part[0] === 0x2e) out.push(Buffer.from('.'));
    for (let i = part.indexOf('\n.'); i >= 0; i = part.indexOf('\n.', i + 1)) {
      out.push(part.subarray(from, i + 1), Buffer.from('.'));
      from = i + 1;
    }
    out.push(part.subarray(from));
    atLineStart = part[part.length - 1] === 0x0a;
    yield Buffer.concat(out);
  }
}

function expect(code: number, wanted: number, what: string): void {
  if (code !== wanted) throw new Error(`${what}: expected ${wanted}, got ${code}`);
}

/** Runs `connections` sessions sending `message` back to back for `seconds`; returns messages per second. */
export async function throughput(
  port: number,
  rcpt: string,
  message: Buffer,
  method: Method,
  connections: number,
  seconds: number,
): Promise<number> {
  const sessions = await Promise.all(Array.from({ length: connections }, () => openSession(port, rcpt)));
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let sent = 0;
  await Promise.all(
    sessions.map(async (s) => {
      while (performance.now() < deadline) {
        await s.send(message, method);
        sent++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  for (const s of sessions) s.close();
  return sent / elapsed;
}

/** Sends one large message; returns MB/s (10^6 bytes) from first byte to the final 250. */
export async function bulk(port: number, rcpt: string, message: Buffer, method: Method): Promise<number> {
  const s = await openSession(port, rcpt);
  const started = performance.now();
  await s.send(message, method);
  const elapsed = (performance.now() - started) / 1000;
  s.close();
  return message.length / 1e6 / elapsed;
}

/** Sends `count` messages over `connections` sessions as fast as they are accepted. */
export async function sendCount(
  port: number,
  rcpt: string,
  message: Buffer,
  method: Method,
  connections: number,
  count: number,
): Promise<void> {
  const sessions = await Promise.all(Array.from({ length: connections }, () => openSession(port, rcpt)));
  let left = count;
  await Promise.all(
    sessions.map(async (s) => {
      while (left > 0) {
        left--;
        await s.send(message, method);
      }
    }),
  );
  for (const s of sessions) s.close();
}
