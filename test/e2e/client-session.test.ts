/**
 * The client session and its socket shell against a real Barge server over TCP: BDAT with a
 * health-check chunk, DATA with dot-stuffing, STARTTLS then AUTH PLAIN, and a failed AUTH; and
 * against Exim as the receiving peer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { eventually, startBarge, tempDir, type TestBarge } from '../support/barge.js';
import { hashPassword, updateUsers, usersPath } from '../../src/auth/users.js';
import { SessionSocket, type SessionSocketOptions } from '../../src/client/session-socket.js';
import type { ClientMessage, TransactionOptions } from '../../src/protocol/client-types.js';
import { generateSelfSigned } from '../../src/server/tls.js';
import { eximServer } from '../support/exim.js';
import { peer } from '../support/peers.js';

const TIMEOUTS = { commandMs: 10_000, bdatCheckMs: 10_000, endOfDataMs: 10_000 };
const BODY = Buffer.from('Subject: session\r\n\r\n.a line with a leading dot\r\nlast line\r\n', 'latin1');
const MESSAGE: ClientMessage = {
  from: 'alice@localhost',
  rcpts: [{ address: 'bob@localhost', local: false }],
  body: '7BIT',
  smtputf8: false,
  size: BODY.length,
};
const TX: TransactionOptions = { allowBdat: true, allowPipelining: true, allowBinarymime: true, chunkSize: 1 << 20 };

function options(barge: TestBarge, extra: Partial<SessionSocketOptions> = {}): SessionSocketOptions {
  return {
    host: '127.0.0.1',
    port: barge.port,
    connectTimeoutMs: 5000,
    timeouts: TIMEOUTS,
    session: { heloName: 'client.test', tls: 'none' },
    ...extra,
  };
}

/** The content in small pieces, as a spool file would stream it. */
const open = (): Readable => Readable.from([BODY.subarray(0, 10), BODY.subarray(10, 30), BODY.subarray(30)]);

test('a transaction answered before its content stream has ended leaves nothing of it to the next one on the session', async () => {
  const barge = await startBarge();
  try {
    const { socket, outcome } = await SessionSocket.open(options(barge));
    assert.equal(outcome.kind, 'ready');
    // A spool stream whose end was already on its way when the peer answered LAST: destroying it
    // does not cut that end short. Pieces come at the given times (ms), the end after the last.
    const timed = (pieces: ReadonlyArray<readonly [number, Buffer]>, endAt: number) => (): Readable => {
      const r = new Readable({ read: () => undefined });
      const destroy = r.destroy.bind(r);
      r.destroy = () => {
        r.destroy = destroy;
        return r;
      };
      for (const [at, piece] of pieces) setTimeout(() => r.push(piece), at);
      setTimeout(() => r.push(null), endAt);
      return r;
    };
    const first = (await socket.send(MESSAGE, timed([[0, BODY]], 300), TX)).outcome;
    assert.equal(first.kind, 'delivered', JSON.stringify(first));
    // The first content's end arrives while the second is half sent: it must not end the second.
    const second = (
      await socket.send(
        MESSAGE,
        timed(
          [
            [0, BODY.subarray(0, 10)],
            [600, BODY.subarray(10)],
          ],
          650,
        ),
        TX,
      )
    ).outcome;
    assert.equal(second.kind, 'delivered', JSON.stringify(second));
    await socket.quit();
    const two = async (): Promise<Buffer[] | undefined> => ((b) => (b.length === 2 ? b : undefined))(await barge.mailbox('bob@localhost'));
    const box = await eventually(two, 15_000, 'two deliveries');
    for (const m of box) assert.ok(m.subarray(m.length - BODY.length).equals(BODY), m.toString('latin1'));
  } finally {
    await barge.stop();
  }
});

test('BDAT with a health-check chunk, then DATA with dot-stuffing, on one session to a real Barge server', async () => {
  const barge = await startBarge();
  try {
    const log: string[] = [];
    const { socket, outcome } = await SessionSocket.open(options(barge, { log: (d, t) => log.push(`${d} ${t}`) }));
    assert.equal(outcome.kind, 'ready');
    const bdat = (await socket.send(MESSAGE, open, { ...TX, bdatCheckBytes: 16 })).outcome;
    assert.ok(bdat.kind === 'delivered' && bdat.method === 'BDAT' && bdat.chunks === 2, JSON.stringify(bdat));
    const data = (await socket.send(MESSAGE, open, { ...TX, allowBdat: false })).outcome;
    assert.ok(data.kind === 'delivered' && data.method === 'DATA', JSON.stringify(data));
    await socket.quit();
    assert.equal(socket.closed, true);
    assert.ok(log.includes('command BDAT 16') && log.includes(`command BDAT ${BODY.length - 16} LAST`), log.join('\n'));
    assert.ok(log.includes('command DATA') && log.some((l) => l.startsWith('response 354')));
    const box = await eventually(
      async () => {
        const b = await barge.mailbox('bob@localhost');
        return b.length === 2 ? b : undefined;
      },
      15_000,
      'two deliveries',
    );
    // Both arrive byte for byte: BDAT content unstuffed, DATA content stuffed and unstuffed again.
    for (const m of box) assert.ok(m.subarray(m.length - BODY.length).equals(BODY), m.toString('latin1'));
  } finally {
    await barge.stop();
  }
});

test('STARTTLS then AUTH PLAIN to a real Barge server; a wrong password is a typed AUTH refusal', async () => {
  const dir = await tempDir();
  const hash = await hashPassword('relay-pass');
  await updateUsers(usersPath(dir), () => [{ name: 'relay@sender.test', hash, addresses: ['@localhost'] }]);
  const hub = await startBarge('relay_networks = []', { queueOnly: true }, dir);
  try {
    const secure = {
      heloName: 'client.test',
      tls: 'opportunistic' as const,
      auth: { username: 'relay@sender.test', password: 'relay-pass' },
    };
    const { socket, outcome } = await SessionSocket.open(options(hub, { session: secure }));
    assert.ok(outcome.kind === 'ready' && outcome.tls, JSON.stringify(outcome));
    const relayed = (await socket.send({ ...MESSAGE, rcpts: [{ address: 'carol@far.test', local: false }] }, open, TX)).outcome;
    assert.equal(relayed.kind, 'delivered', JSON.stringify(relayed));
    await socket.quit();
    const got = await eventually(async () => (await hub.tracking()).find((e) => e.event === 'received'), 15_000, 'relayed message');
    assert.ok(got.event === 'received' && got.rcpts[0] === 'carol@far.test');
    const wrong = await SessionSocket.open(
      options(hub, { session: { ...secure, auth: { username: 'relay@sender.test', password: 'nope' } } }),
    );
    assert.ok(
      wrong.outcome.kind === 'rejected' && wrong.outcome.stage === 'AUTH' && wrong.outcome.code === 535,
      JSON.stringify(wrong.outcome),
    );
    assert.equal(wrong.socket.closed, true);
  } finally {
    await hub.stop();
  }
});

test('nothing listening: a typed lost connection, no exception', async () => {
  const barge = await startBarge();
  const port = barge.port;
  await barge.stop();
  const { outcome } = await SessionSocket.open({ ...options(barge), port });
  assert.ok(outcome.kind === 'connectionLost' && outcome.stage === 'greeting', JSON.stringify(outcome));
});

test('interop: STARTTLS, then BDAT with a health-check chunk and DATA with a dot line, to Exim', async (t) => {
  const exim = peer(t, 'exim4');
  if (exim === undefined) return;
  const receiver = await eximServer(exim, await tempDir('barge-session-exim-'), await generateSelfSigned('exim.test'));
  try {
    const { socket, outcome } = await SessionSocket.open({
      host: '127.0.0.1',
      port: receiver.port,
      connectTimeoutMs: 5000,
      timeouts: TIMEOUTS,
      session: { heloName: 'client.test', tls: 'opportunistic' },
    });
    assert.ok(outcome.kind === 'ready' && outcome.tls && outcome.caps.keywords.has('CHUNKING'), JSON.stringify(outcome));
    const to = { ...MESSAGE, rcpts: [{ address: 'bob@exim.test', local: false }] };
    const bdat = (await socket.send(to, open, { ...TX, bdatCheckBytes: 16 })).outcome;
    assert.ok(bdat.kind === 'delivered' && bdat.chunks === 2, JSON.stringify(bdat));
    const data = (await socket.send(to, open, { ...TX, allowBdat: false })).outcome;
    assert.ok(data.kind === 'delivered' && data.method === 'DATA', JSON.stringify(data));
    await socket.quit();
    const stored = await eventually(
      async () => {
        const m = await receiver.messages();
        return m.length === 2 ? m : undefined;
      },
      15_000,
      'Exim to store both messages',
    );
    const body = BODY.toString('latin1').split('\r\n\r\n')[1] ?? '';
    for (const m of stored)
      assert.ok(m.toString('latin1').replaceAll('\r\n', '\n').endsWith(body.replaceAll('\r\n', '\n')), m.toString('latin1'));
    const receptions = (await receiver.mainLog()).split('\n').filter((l) => l.includes('<= alice@localhost'));
    assert.equal(receptions.length, 2);
    assert.deepEqual(
      receptions.map((l) => [/ X=TLS1\.[23]/.test(l), / K /.test(l)]),
      [
        [true, true],
        [true, false],
      ],
    );
  } finally {
    await receiver.stop();
  }
});
