/** The middlebox end to end: a small real upstream, the box, and a raw client, all on loopback. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { startMiddlebox, type MiddleboxMode } from './proxy.js';
import { runMiddlebox } from '../cli/middlebox.js';

interface UpstreamSession {
  /** Command lines as the server parsed them (payload excluded). */
  readonly commands: string[];
  /** Every byte received and sent, for the transparency check. */
  received: Buffer;
  sent: Buffer;
  /** BDAT/DATA payload in order. */
  payload: string;
  readonly closed: Promise<void>;
}

interface Upstream {
  readonly port: number;
  readonly sessions: UpstreamSession[];
  close(): Promise<void>;
}

/** Just enough SMTP: greeting, EHLO, MAIL/RCPT/NOOP, BDAT, DATA, STARTTLS (then raw), QUIT. */
async function startUpstream(opts: { greeting?: string; starttlsLast?: boolean } = {}): Promise<Upstream> {
  const sessions: UpstreamSession[] = [];
  const open = new Set<Socket>();
  const ext =
    opts.starttlsLast === true
      ? ['PIPELINING', 'CHUNKING', 'BINARYMIME', '8BITMIME', 'STARTTLS']
      : ['PIPELINING', 'CHUNKING', 'BINARYMIME', 'STARTTLS', '8BITMIME'];
  const ehlo = ['up.example', ...ext].map((l, i, all) => `250${i === all.length - 1 ? ' ' : '-'}${l}\r\n`).join('');
  const server: Server = createServer((sock: Socket) => {
    const s: UpstreamSession = {
      commands: [],
      received: Buffer.alloc(0),
      sent: Buffer.alloc(0),
      payload: '',
      closed: new Promise<void>((r) => sock.once('close', () => r())),
    };
    sessions.push(s);
    open.add(sock);
    sock.on('close', () => open.delete(sock));
    sock.on('error', () => undefined);
    const send = (text: string): void => {
      s.sent = Buffer.concat([s.sent, Buffer.from(text, 'latin1')]);
      sock.write(text);
    };
    send(opts.greeting ?? '220 up.example ESMTP\r\n');
    let buf = '';
    let state: 'cmd' | 'tls' | 'data' = 'cmd';
    let chunkLeft = 0;
    let chunkLast = false;
    sock.on('data', (b: Buffer) => {
      s.received = Buffer.concat([s.received, b]);
      buf += b.toString('latin1');
      for (;;) {
        if (state === 'tls') return;
        if (chunkLeft > 0) {
          const take = buf.slice(0, chunkLeft);
          if (take.length === 0) return;
          s.payload += take;
          buf = buf.slice(take.length);
          chunkLeft -= take.length;
          if (chunkLeft === 0) send(`250 2.0.0 chunk ok${chunkLast ? ', message queued' : ''}\r\n`);
          continue;
        }
        if (state === 'data') {
          const end = buf.indexOf('\r\n.\r\n');
          if (end < 0) return;
          s.payload += buf.slice(0, end + 2);
          buf = buf.slice(end + 5);
          state = 'cmd';
          send('250 2.0.0 queued\r\n');
          continue;
        }
        const lf = buf.indexOf('\r\n');
        if (lf < 0) return;
        const line = buf.slice(0, lf);
        buf = buf.slice(lf + 2);
        s.commands.push(line);
        const verb = line.split(' ')[0]?.toUpperCase() ?? '';
        const bdat = /^BDAT (\d+)( LAST)?$/i.exec(line);
        if (verb === 'EHLO') send(ehlo);
        else if (bdat !== null) {
          chunkLeft = Number(bdat[1]);
          chunkLast = bdat[2] !== undefined;
          if (chunkLeft === 0) send('250 2.0.0 chunk ok\r\n');
        } else if (verb === 'DATA') {
          state = 'data';
          send('354 go ahead\r\n');
        } else if (verb === 'STARTTLS') {
          state = 'tls';
          send('220 2.0.0 ready to start TLS\r\n');
        } else if (verb === 'QUIT') {
          send('221 2.0.0 bye\r\n');
          sock.end();
        } else send('250 2.0.0 ok\r\n');
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    sessions,
    close: async () => {
      for (const sock of open) sock.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A raw client that reads whole replies. */
class Client {
  readonly sock: Socket;
  received = Buffer.alloc(0);
  #text = '';
  #wake: (() => void) | undefined;
  readonly closed: Promise<void>;

  constructor(port: number) {
    this.sock = connect(port, '127.0.0.1');
    this.sock.on('error', () => undefined);
    this.closed = new Promise<void>((r) => this.sock.once('close', () => r()));
    this.sock.on('data', (b: Buffer) => {
      this.received = Buffer.concat([this.received, b]);
      this.#text += b.toString('latin1');
      this.#wake?.();
    });
    this.sock.on('close', () => this.#wake?.());
  }

  send(text: string): void {
    this.sock.write(Buffer.from(text, 'latin1'));
  }

  /** The next whole reply, or undefined if none arrives in time (or the connection closed). */
  async reply(timeoutMs = 2000): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = /^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\n/.exec(this.#text);
      if (m !== null) {
        this.#text = this.#text.slice(m[0].length);
        return m[0];
      }
      const left = deadline - Date.now();
      if (left <= 0 || this.sock.destroyed) return undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  async command(text: string): Promise<string | undefined> {
    this.send(text);
    return this.reply();
  }
}

async function setup(mode: MiddleboxMode, up: { greeting?: string; starttlsLast?: boolean } = {}, tarpitMs?: number) {
  const upstream = await startUpstream(up);
  const log: string[] = [];
  const box = await startMiddlebox({
    listen: { host: '127.0.0.1', port: 0 },
    upstream: { host: '127.0.0.1', port: upstream.port },
    mode,
    tarpitMs,
    log: (l) => log.push(l),
  });
  const client = new Client(box.address.port);
  const done = async (): Promise<void> => {
    client.sock.destroy();
    await box.close();
    await upstream.close();
  };
  return { upstream, box, client, log, done };
}

test('mask-keywords masks CHUNKING/BINARYMIME and answers BDAT itself, swallowing the chunk', async () => {
  const { upstream, client, log, done, box } = await setup('mask-keywords');
  assert.match((await client.reply()) ?? '', /^220 up\.example/);
  const ehlo = (await client.command('EHLO c.example\r\n')) ?? '';
  assert.match(ehlo, /^250-XXXXXXXA\r$/m);
  assert.match(ehlo, /^250-XXXXXXXXXA\r$/m);
  assert.doesNotMatch(ehlo, /CHUNKING|BINARYMIME/);
  assert.match(ehlo, /^250-PIPELINING\r$/m);
  assert.match((await client.command('MAIL FROM:<a@x>\r\n')) ?? '', /^250 /);
  // The chunk holds command-looking text; it must neither reach the server nor run as commands.
  assert.equal(await client.command('BDAT 23\r\nMAIL FROM:<x>\r\nBDAT 5\r\n'), '500 5.5.1 Command unrecognized\r\n');
  assert.match((await client.command('NOOP\r\n')) ?? '', /^250 /);
  // Pipelined: the box's own 500 comes in order between the server's replies.
  client.send('RSET\r\nBDAT 3 LAST\r\nabcNOOP\r\n');
  assert.match((await client.reply()) ?? '', /^250 /);
  assert.equal(await client.reply(), '500 5.5.1 Command unrecognized\r\n');
  assert.match((await client.reply()) ?? '', /^250 /);
  assert.match((await client.command('QUIT\r\n')) ?? '', /^221 /);
  await client.closed;
  const seen = upstream.sessions[0]?.commands ?? [];
  assert.deepEqual(seen, ['EHLO c.example', 'MAIL FROM:<a@x>', 'NOOP', 'RSET', 'NOOP', 'QUIT']);
  assert.ok(log.includes('masked CHUNKING as XXXXXXXA'), log.join('\n'));
  assert.ok(log.includes('masked BINARYMIME as XXXXXXXXXA'), log.join('\n'));
  assert.equal(box.stats.connections, 1);
  await done();
});

test('drop-bdat: BDAT is a black hole; the upstream closes when the client leaves', async () => {
  const { upstream, client, log, done } = await setup('drop-bdat');
  await client.reply();
  assert.match((await client.command('EHLO c\r\n')) ?? '', /^250-CHUNKING\r$/m);
  assert.match((await client.command('MAIL FROM:<a@x>\r\n')) ?? '', /^250 /);
  client.send('BDAT 5\r\nhelloNOOP\r\n');
  assert.equal(await client.reply(300), undefined);
  const session = upstream.sessions[0];
  assert.ok(session !== undefined);
  assert.deepEqual(session.commands, ['EHLO c', 'MAIL FROM:<a@x>']);
  assert.equal(session.payload, '');
  client.sock.end();
  await session.closed;
  assert.deepEqual(log, ['dropped BDAT from 127.0.0.1']);
  await done();
});

test('drop-second-bdat: the first BDAT transaction of a connection passes, the second is a black hole', async () => {
  const { upstream, client, log, done } = await setup('drop-second-bdat');
  await client.reply();
  assert.match((await client.command('EHLO c\r\n')) ?? '', /^250-CHUNKING\r$/m);
  assert.match((await client.command('MAIL FROM:<a@x>\r\n')) ?? '', /^250 /);
  assert.match((await client.command('BDAT 5\r\nhello')) ?? '', /^250 2\.0\.0 chunk ok\r$/m);
  assert.match((await client.command('BDAT 3 LAST\r\nabc')) ?? '', /^250 2\.0\.0 chunk ok, message queued\r$/m);
  assert.match((await client.command('MAIL FROM:<b@x>\r\n')) ?? '', /^250 /);
  client.send('BDAT 5 LAST\r\nworldNOOP\r\n');
  assert.equal(await client.reply(300), undefined);
  const session = upstream.sessions[0];
  assert.ok(session !== undefined);
  assert.deepEqual(session.commands, ['EHLO c', 'MAIL FROM:<a@x>', 'BDAT 5', 'BDAT 3 LAST', 'MAIL FROM:<b@x>']);
  assert.equal(session.payload, 'helloabc');
  client.sock.end();
  await session.closed;
  assert.deepEqual(log, ['dropped the second BDAT transaction from 127.0.0.1']);
  await done();
});

test('reset-after-bdat: the client connection is torn down at BDAT', async () => {
  const { upstream, client, done } = await setup('reset-after-bdat');
  await client.reply();
  await client.command('EHLO c\r\n');
  client.send('BDAT 5 LAST\r\nhello');
  await client.closed;
  assert.ok(client.sock.destroyed);
  assert.deepEqual(upstream.sessions[0]?.commands, ['EHLO c']);
  await upstream.sessions[0]?.closed;
  await done();
});

test('tarpit-chunks holds non-final chunks, keeps order, lets a lone LAST chunk through', async () => {
  const { upstream, client, box, done } = await setup('tarpit-chunks', {}, 200);
  await client.reply();
  await client.command('EHLO c\r\n');
  await client.command('MAIL FROM:<a@x>\r\n');
  const start = performance.now();
  client.send('BDAT 5\r\nhelloBDAT 3 LAST\r\nabc');
  assert.match((await client.reply()) ?? '', /^250 2\.0\.0 chunk ok\r\n$/);
  assert.ok(performance.now() - start >= 195, `held only ${performance.now() - start} ms`);
  assert.match((await client.reply()) ?? '', /message queued/);
  assert.equal(upstream.sessions[0]?.payload, 'helloabc');

  const other = new Client(box.address.port);
  await other.reply();
  await other.command('EHLO c\r\n');
  await other.command('MAIL FROM:<a@x>\r\n');
  const t0 = performance.now();
  assert.match((await other.command('BDAT 4 LAST\r\nwxyz')) ?? '', /message queued/);
  assert.ok(performance.now() - t0 < 150, `LAST chunk took ${performance.now() - t0} ms`);
  other.sock.destroy();
  await done();
});

test('mask-banner replaces a multi-line greeting with one line of asterisks', async () => {
  const { client, done } = await setup('mask-banner', { greeting: '220-up.example ESMTP Postfix\r\n220 second line\r\n' });
  assert.equal(await client.reply(), '220 ******************************\r\n');
  assert.match((await client.command('EHLO c\r\n')) ?? '', /^250-up\.example\r\n/);
  await done();
});

for (const starttlsLast of [false, true]) {
  test(`strip-starttls removes STARTTLS${starttlsLast ? ' as the last line' : ' in the middle'} and refuses the command`, async () => {
    const { upstream, client, log, done } = await setup('strip-starttls', { starttlsLast });
    await client.reply();
    const ehlo = await client.command('EHLO c\r\n');
    // Either way 8BITMIME ends the reply; with STARTTLS last it had to change from "250-" to "250 ".
    assert.equal(ehlo, '250-up.example\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-BINARYMIME\r\n250 8BITMIME\r\n');
    assert.equal(await client.command('STARTTLS\r\n'), '502 5.5.1 Command not implemented\r\n');
    assert.match((await client.command('NOOP\r\n')) ?? '', /^250 /);
    assert.deepEqual(upstream.sessions[0]?.commands, ['EHLO c', 'NOOP']);
    assert.equal(log.length, 2, log.join('\n'));
    await done();
  });
}

test('pass is byte-identical both ways, through BDAT and DATA', async () => {
  const { upstream, client, done } = await setup('pass');
  await client.reply();
  const sent: string[] = [];
  const say = async (text: string): Promise<string | undefined> => {
    sent.push(text);
    return client.command(text);
  };
  await say('EHLO c\r\n');
  await say('MAIL FROM:<a@x>\r\n');
  await say('RCPT TO:<b@y>\r\n');
  await say('BDAT 15\r\nMAIL FROM:<x>\r\n');
  await say('BDAT 0 LAST\r\n');
  await say('MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\n');
  await client.reply();
  assert.match((await say('DATA\r\n')) ?? '', /^354 /);
  assert.match((await say('Subject: t\r\n\r\nBDAT 5\r\n..dot\r\n.\r\n')) ?? '', /^250 2\.0\.0 queued/);
  await say('QUIT\r\n');
  await client.closed;
  const session = upstream.sessions[0];
  assert.ok(session !== undefined);
  assert.equal(session.received.toString('latin1'), sent.join(''));
  assert.deepEqual(client.received, session.sent);
  assert.deepEqual(session.commands, [
    'EHLO c',
    'MAIL FROM:<a@x>',
    'RCPT TO:<b@y>',
    'BDAT 15',
    'BDAT 0 LAST',
    'MAIL FROM:<a@x>',
    'RCPT TO:<b@y>',
    'DATA',
    'QUIT',
  ]);
  await done();
});

test('a large chunk streams through intact (backpressure both ways)', async () => {
  const { upstream, client, done } = await setup('tarpit-chunks', {}, 50);
  await client.reply();
  await client.command('EHLO c\r\n');
  const body = Buffer.alloc(4 * 1024 * 1024, 'abcdefghijklmnopqrstuvwxyz\r\n');
  client.send('BDAT 4096\r\n');
  client.sock.write(body.subarray(0, 4096));
  client.send(`BDAT ${body.length - 4096} LAST\r\n`);
  client.sock.write(body.subarray(4096));
  assert.match((await client.reply()) ?? '', /^250 2\.0\.0 chunk ok\r\n$/);
  assert.match((await client.reply(10_000)) ?? '', /message queued/);
  assert.equal(upstream.sessions[0]?.payload, body.toString('latin1'));
  await done();
});

test('after STARTTLS is accepted the box relays opaquely, even in drop-bdat mode', async () => {
  const { upstream, client, log, done } = await setup('drop-bdat');
  await client.reply();
  await client.command('EHLO c\r\n');
  assert.match((await client.command('STARTTLS\r\n')) ?? '', /^220 /);
  client.send('\x16\x03\x01BDAT 5\r\nhello');
  const session = upstream.sessions[0];
  assert.ok(session !== undefined);
  const want = 'EHLO c\r\nSTARTTLS\r\n\x16\x03\x01BDAT 5\r\nhello';
  for (let i = 0; i < 50 && session.received.length < want.length; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(session.received.toString('latin1'), want);
  assert.deepEqual(log, []);
  await done();
});

test('barge middlebox: usage errors exit 2; a running box logs its distortions and stops on SIGTERM', async () => {
  for (const args of [
    [],
    ['--listen', '127.0.0.1:0'],
    ['--listen', 'x', '--upstream', '127.0.0.1:25', '--mode', 'pass'],
    ['--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:25', '--mode', 'nope'],
    ['--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:25', '--mode', 'pass', '--tarpit', 'soon'],
    ['--bogus'],
  ]) {
    const err: string[] = [];
    assert.equal(
      await runMiddlebox(
        args,
        () => undefined,
        (l) => err.push(l),
      ),
      2,
      args.join(' '),
    );
    assert.match(err.join('\n'), /usage: barge middlebox/);
  }
  const upstream = await startUpstream();
  const out: string[] = [];
  const running = runMiddlebox(
    ['--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${upstream.port}`, '--mode', 'mask-keywords'],
    (l) => out.push(l),
    () => undefined,
  );
  for (let i = 0; i < 100 && out.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  const m = /^barge middlebox: listening on 127\.0\.0\.1:(\d+), upstream 127\.0\.0\.1:\d+, mode mask-keywords$/.exec(out[0] ?? '');
  assert.ok(m !== null, out.join('\n'));
  const client = new Client(Number(m[1]));
  await client.reply();
  assert.match((await client.command('EHLO c\r\n')) ?? '', /XXXXXXXA/);
  assert.ok(out.includes('masked CHUNKING as XXXXXXXA'), out.join('\n'));
  client.sock.destroy();
  process.emit('SIGTERM');
  assert.equal(await running, 0);
  await upstream.close();
});
