/**
 * Outbound sessions are reused only under the same security, and credentials go only over TLS with a
 * verified certificate unless `auth_tls = "any"`. Barge is the receiving peer, over loopback.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Resolver } from 'node:dns/promises';
import { submitBdat } from '../support/submit.js';
import { eventually, startBarge, tempDir, type TestBarge } from '../support/barge.js';
import { hashPassword, updateUsers, usersPath } from '../../src/auth/users.js';
import { parseW3cLog } from '../../src/log/w3c.js';
import type { EntryState } from '../../src/queue/runner.js';
import { deliverToDomain, type DeliveryContext } from '../../src/client/deliver.js';
import { SessionPool } from '../../src/client/pool.js';
import { realClock } from '../../src/time/clock.js';

const MESSAGE = 'Subject: reuse\r\n\r\nhello\r\n';

const submit = (barge: TestBarge, to: string): Promise<string> => submitBdat(barge, to, MESSAGE);

async function deferred(barge: TestBarge, id: string): Promise<EntryState> {
  return eventually(
    async () => {
      const s = await barge.server.spool.readState<EntryState>(id).catch(() => undefined);
      return s?.rcpts[0]?.nextAttempt === undefined ? undefined : s;
    },
    15_000,
    'deferral',
  );
}

/** A hub with a self-signed certificate that relays only for its users; it queues and sends nothing. */
async function hub(users: readonly string[]): Promise<TestBarge> {
  const dir = await tempDir();
  const hash = await hashPassword('pass');
  await updateUsers(usersPath(dir), () => users.map((name) => ({ name, hash, addresses: ['@localhost'] })));
  return startBarge(
    'relay_networks = []\n[log]\nw3c_fields = ["cs-username", "cs-method", "cs-uri-query", "sc-status"]',
    { queueOnly: true, hostname: 'hub.test' },
    dir,
  );
}

test('a clear-text session kept idle never carries mail whose route requires verified TLS', async () => {
  const receiver = await startBarge('', { localDomain: ['plain.test', 'strict.test'], hostname: 'receiver.test' });
  const sender = await startBarge(
    `[routes."plain.test"]\nnext_hop = "127.0.0.1:${receiver.port}"\ntls = "none"\n[routes."strict.test"]\nnext_hop = "127.0.0.1:${receiver.port}"\ntls = "required"`,
  );
  try {
    await submit(sender, 'bob@plain.test');
    await eventually(async () => ((await receiver.mailbox('bob@plain.test')).length > 0 ? true : undefined), 15_000, 'clear-text delivery');
    // The clear-text session is now idle in the pool (kept 5 s); the next message must not use it.
    const id = await submit(sender, 'carol@strict.test');
    const state = await deferred(sender, id);
    assert.match(state.rcpts[0]?.lastResult ?? '', /TLS handshake .*(self-signed|certificate)/i);
    assert.equal((await receiver.mailbox('carol@strict.test')).length, 0, 'never delivered without verified TLS');
  } finally {
    await sender.stop();
    await receiver.stop();
  }
});

test("a session authenticated as one user never carries another route's mail", async () => {
  const relay = await hub(['one@sender.test', 'two@sender.test']);
  const route = (domain: string, user: string): string =>
    `[routes."${domain}"]\nnext_hop = "127.0.0.1:${relay.port}"\nauth = { username = "${user}", password = "pass" }\nauth_tls = "any"\n`;
  const sender = await startBarge(route('one.test', 'one@sender.test') + route('two.test', 'two@sender.test'));
  try {
    await submit(sender, 'bob@one.test');
    await eventually(
      async () => ((await relay.tracking()).some((e) => e.event === 'received') ? true : undefined),
      15_000,
      'first message',
    );
    await submit(sender, 'carol@two.test');
    await eventually(
      async () => ((await relay.tracking()).filter((e) => e.event === 'received').length === 2 ? true : undefined),
      15_000,
      'second message',
    );
    const rcpts = parseW3cLog(await relay.protocolLog()).filter((l) => l['cs-method'] === 'RCPT');
    const by = (domain: string): string[] =>
      rcpts.filter((l) => (l['cs-uri-query'] ?? '').includes(domain)).map((l) => l['cs-username'] ?? '');
    assert.deepEqual(by('one.test'), ['one@sender.test']);
    assert.deepEqual(by('two.test'), ['two@sender.test']);
  } finally {
    await sender.stop();
    await relay.stop();
  }
});

test('by default credentials are not sent over TLS with an unverified certificate: the message waits', async () => {
  const relay = await hub(['one@sender.test']);
  const sender = await startBarge(
    `smart_host = "127.0.0.1:${relay.port}"\nsmart_host_auth = { username = "one@sender.test", password = "pass" }`,
  );
  try {
    const id = await submit(sender, 'carol@far.test');
    const state = await deferred(sender, id);
    assert.equal(state.rcpts[0]?.status, 'pending');
    assert.match(state.rcpts[0]?.lastResult ?? '', /certificate is not verified .*AUTH not sent/);
    const log = parseW3cLog(await relay.protocolLog());
    assert.ok(
      log.some((l) => l['cs-method'] === 'STARTTLS'),
      'TLS was used',
    );
    assert.ok(!log.some((l) => l['cs-method'] === 'AUTH'), 'no AUTH reached the peer');
    assert.equal((await relay.tracking()).filter((e) => e.event === 'received').length, 0);
  } finally {
    await sender.stop();
    await relay.stop();
  }
});

test("with a certificate that verifies (the peer's own as trust anchor), credentials are sent under the default", async () => {
  const relay = await hub(['one@sender.test']);
  const pool = new SessionPool({ heloName: 'sender.test', perDestination: 2, idleMs: 1000, clock: realClock });
  try {
    // The hub's generated certificate names 127.0.0.1 and is its own CA: trusting it makes it verify.
    const ca = await readFile(join(relay.dataDir, 'tls', 'self-signed.crt'), 'utf8');
    const ctx: DeliveryContext = {
      heloName: 'sender.test',
      dns: new Resolver(),
      pool,
      connectTimeoutMs: 5000,
      replyTimeoutMs: 5000,
      routing: { port: 25, routes: new Map([['one.test', { host: '127.0.0.1', port: relay.port }]]), smartHost: undefined },
      transfer: () => ({
        allowBdat: true,
        allowPipelining: true,
        allowBinarymime: true,
        chunkSize: 1 << 20,
        fallback: true,
        security: { tls: 'opportunistic', auth: { username: 'one@sender.test', password: 'pass' }, authTls: 'verified', ca: [ca] },
      }),
    };
    const content = Buffer.from(MESSAGE);
    const result = await deliverToDomain(
      'one.test',
      {
        from: 'alice@localhost',
        rcpts: [{ address: 'bob@one.test', local: false }],
        body: '7BIT',
        smtputf8: false,
        size: content.length,
        open: () => Readable.from([content]),
      },
      ctx,
    );
    assert.equal(result.outcomes[0]?.kind, 'delivered', JSON.stringify(result.outcomes));
    const log = parseW3cLog(await relay.protocolLog());
    assert.ok(log.some((l) => l['cs-method'] === 'AUTH' && l['sc-status'] === '235'));
    assert.ok(log.some((l) => l['cs-method'] === 'MAIL' && l['cs-username'] === 'one@sender.test'));
  } finally {
    await pool.close();
    await relay.stop();
  }
});
