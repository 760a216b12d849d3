/**
 * Barge as a client: opportunistic STARTTLS to a peer, AUTH to a smart host over TLS, "required"
 * TLS that refuses an unverifiable certificate, and wrong credentials that defer rather than bounce.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { submitBdat } from '../support/submit.js';
import { eventually, startBarge, tempDir, type TestBarge } from '../support/barge.js';
import { hashPassword, updateUsers, usersPath } from '../../src/auth/users.js';
import { parseW3cLog } from '../../src/log/w3c.js';
import type { EntryState } from '../../src/queue/runner.js';

const MESSAGE = 'Subject: via the smart host\r\n\r\nhello\r\n';

const submit = (barge: TestBarge, to: string): Promise<string> => submitBdat(barge, to, MESSAGE);

/** A smart host that relays only for authenticated sessions; it queues and delivers nothing. */
async function smartHost(): Promise<TestBarge> {
  const dir = await tempDir();
  const hash = await hashPassword('relay-pass');
  await updateUsers(usersPath(dir), () => [{ name: 'relay@sender.test', hash, addresses: ['@localhost'] }]);
  return startBarge(
    'relay_networks = []\n[log]\nw3c_fields = ["c-ip", "cs-username", "cs-method", "sc-status"]',
    { queueOnly: true, hostname: 'hub.test' },
    dir,
  );
}

test('with auth_tls = "any", AUTH PLAIN to the smart host over opportunistic STARTTLS; the password never reaches a log', async () => {
  const hub = await smartHost();
  const sender = await startBarge(
    `smart_host = "127.0.0.1:${hub.port}"\nsmart_host_auth = { username = "relay@sender.test", password = "relay-pass" }\n[delivery]\nauth_tls = "any"`,
  );
  try {
    await submit(sender, 'carol@far.test');
    const got = await eventually(async () => (await hub.tracking()).find((e) => e.event === 'received'), 15_000, 'relayed message');
    assert.ok(got.event === 'received');
    assert.deepEqual(got.rcpts, ['carol@far.test']);
    const hubLog = parseW3cLog(await hub.protocolLog());
    assert.ok(hubLog.some((l) => l['cs-method'] === 'STARTTLS' && l['sc-status'] === '220'));
    assert.ok(
      hubLog.some((l) => l['cs-method'] === 'MAIL' && l['cs-username'] === 'relay@sender.test'),
      'authenticated as the relay user',
    );
    const senderLog = await sender.protocolLog();
    assert.match(senderLog, /AUTH/);
    assert.doesNotMatch(senderLog, /relay-pass|cmVsYXktcGFzc/, 'no password, plain or base64, in the sender log');
  } finally {
    await sender.stop();
    await hub.stop();
  }
});

test('wrong smart-host credentials defer the message (4xx), never bounce it', async () => {
  const hub = await smartHost();
  const sender = await startBarge(
    `smart_host = "127.0.0.1:${hub.port}"\nsmart_host_auth = { username = "relay@sender.test", password = "wrong" }\n[delivery]\nauth_tls = "any"`,
  );
  try {
    const id = await submit(sender, 'carol@far.test');
    const state = await eventually(
      async () => {
        const s = await sender.server.spool.readState<EntryState>(id).catch(() => undefined);
        return s?.rcpts[0]?.nextAttempt === undefined ? undefined : s;
      },
      15_000,
      'deferral',
    );
    assert.equal(state.rcpts[0]?.status, 'pending');
    assert.match(state.rcpts[0]?.lastResult ?? '', /AUTH 535/);
    assert.equal((await hub.tracking()).filter((e) => e.event === 'received').length, 0);
  } finally {
    await sender.stop();
    await hub.stop();
  }
});

test('tls = "required" refuses a certificate it cannot verify, and the message waits', async () => {
  const receiver = await startBarge('', { localDomain: ['remote.test'], hostname: 'receiver.test' });
  const sender = await startBarge(`[routes."remote.test"]\nnext_hop = "127.0.0.1:${receiver.port}"\ntls = "required"`);
  try {
    const id = await submit(sender, 'bob@remote.test');
    const state = await eventually(
      async () => {
        const s = await sender.server.spool.readState<EntryState>(id).catch(() => undefined);
        return s?.rcpts[0]?.nextAttempt === undefined ? undefined : s;
      },
      15_000,
      'deferral',
    );
    assert.match(state.rcpts[0]?.lastResult ?? '', /TLS handshake .*(self-signed|certificate)/i);
    assert.equal((await receiver.mailbox('bob@remote.test')).length, 0);
  } finally {
    await sender.stop();
    await receiver.stop();
  }
});
