/**
 * The error boundaries, through their test seams (a fault hook only a test in the server's process
 * can set): a throw while handling one inbound connection ends that connection alone with 421 4.3.0
 * and a `bug` report, its open message discarded, while other sessions finish their messages and
 * the listener keeps accepting; a throw in an outbound session defers the message, which a later
 * attempt delivers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { RawSmtp } from '../support/raw-client.js';
import { eventually, startBarge, type TestBarge } from '../support/barge.js';
import { submitBdat } from '../support/submit.js';
import type { FaultHook } from '../../src/server/connection-boundary.js';
import type { ServerDeps } from '../../src/server/running.js';
import type { TrackingRecord } from '../../src/log/tracking.js';

/** A server whose inbound fault hook is `fault`, its bug reports kept in `bugs`. */
async function faulty(fault: FaultHook): Promise<{ barge: TestBarge; bugs: string[] }> {
  const bugs: string[] = [];
  const deps: ServerDeps = { bugs: (text) => bugs.push(text), faults: { inbound: fault } };
  return { barge: await startBarge('', {}, undefined, deps), bugs };
}

const bugsOf = async (b: TestBarge): Promise<Extract<TrackingRecord, { event: 'bug' }>[]> =>
  (await b.tracking()).filter((e): e is Extract<TrackingRecord, { event: 'bug' }> => e.event === 'bug');

async function greeted(port: number): Promise<RawSmtp> {
  const c = await RawSmtp.connect(port);
  assert.equal((await c.reply()).code, 220);
  assert.equal((await c.command('EHLO client.test')).code, 250);
  return c;
}

test('a throw in one session answers 421 4.3.0 and closes it alone: another finishes its message, new ones are accepted', async () => {
  const { barge, bugs } = await faulty((point, input) => {
    if (point === 'command' && input.includes('<crash@')) throw new Error('injected fault in a command');
  });
  try {
    // B is mid-transaction when A's session throws.
    const b = await greeted(barge.port);
    assert.equal((await b.command('MAIL FROM:<b@client.test>')).code, 250);
    assert.equal((await b.command('RCPT TO:<bob@localhost>')).code, 250);
    const a = await greeted(barge.port);
    const failed = await a.command('MAIL FROM:<crash@client.test>');
    assert.equal(failed.code, 421);
    assert.equal(failed.lines[0], '4.3.0 Internal error, closing transmission channel');
    await a.closed();
    const body = 'Subject: after the fault\r\n\r\nstill here\r\n';
    const done = await b.command(`BDAT ${body.length} LAST\r\n${body}`);
    assert.equal(done.code, 250, done.raw);
    b.close();
    // The listener still accepts: a new session submits a message end to end.
    await submitBdat(barge, 'carol@localhost', 'Subject: new\r\n\r\nhi\r\n');
    await eventually(
      async () => ((await barge.mailbox('bob@localhost')).length === 1 ? true : undefined),
      10_000,
      "the other session's mail",
    );
    await eventually(
      async () => ((await barge.mailbox('carol@localhost')).length === 1 ? true : undefined),
      10_000,
      "the new session's mail",
    );
    const [bug, ...more] = await bugsOf(barge);
    assert.equal(more.length, 0);
    assert.equal(bug?.where, 'inbound');
    assert.equal(bug?.connection, 'smtp/2', 'the second connection (A) failed');
    assert.equal(bug?.clientIp, '127.0.0.1');
    assert.equal(bug?.message, 'injected fault in a command');
    assert.match(bug?.stack ?? '', /^Error: injected fault in a command\n {4}at /);
    assert.equal(bugs.length, 1);
    assert.match(
      bugs[0] ?? '',
      /^barge: bug caught in the inbound connection smtp\/2 from 127\.0\.0\.1 \(that session alone ended\): Error: injected fault/,
    );
    assert.match(await barge.protocolLog(), /127\.0\.0\.1 - - 421/, 'the 421 is in the protocol log');
  } finally {
    await barge.stop();
  }
});

test('a throw inside a transaction discards its spool file; nothing of the message is queued', async () => {
  const { barge } = await faulty((point, input) => {
    if (point === 'command' && input.includes('CRASH-IN-BODY')) throw new Error('injected fault in a body');
  });
  try {
    const a = await greeted(barge.port);
    assert.equal((await a.command('MAIL FROM:<a@client.test>')).code, 250);
    assert.equal((await a.command('RCPT TO:<bob@localhost>')).code, 250);
    // A large first chunk spills to a file of its own (incoming/), then the fault comes in a later read.
    const first = `Subject: big\r\n\r\n${'x'.repeat(600_000)}`;
    await a.send(`BDAT ${first.length}\r\n${first}`);
    assert.equal((await a.reply()).code, 250);
    const incoming = join(barge.dataDir, 'spool', 'incoming');
    assert.equal((await readdir(incoming)).length, 1, 'the message spilled to incoming/');
    await a.send('BDAT 13 LAST\r\nCRASH-IN-BODY');
    const failed = await a.reply();
    assert.equal(failed.code, 421);
    await a.closed();
    await eventually(async () => ((await readdir(incoming)).length === 0 ? true : undefined), 5000, 'the spool file to go');
    assert.deepEqual(await barge.server.spool.list(), []);
    const events = await barge.tracking();
    assert.equal(events.filter((e) => e.event === 'received').length, 0);
    const rejected = events.find((e) => e.event === 'rejected');
    assert.ok(rejected?.event === 'rejected');
    assert.equal(rejected.reason, 'internal error (a bug, reported)');
    assert.equal((await bugsOf(barge)).length, 1);
  } finally {
    await barge.stop();
  }
});

test('a rejected commit (an async throw) ends that session alone; the next message commits', async () => {
  let armed = true;
  const { barge } = await faulty((point) => {
    if (point === 'commit' && armed) {
      armed = false;
      throw new Error('injected fault in a commit');
    }
  });
  try {
    const a = await greeted(barge.port);
    await a.send('MAIL FROM:<a@client.test>\r\nRCPT TO:<bob@localhost>\r\nBDAT 17 LAST\r\nSubject: lost\r\n\r\n');
    const replies = await a.replies(3);
    assert.deepEqual(
      replies.map((r) => r.code),
      [250, 250, 421],
      replies.map((r) => r.raw).join(''),
    );
    assert.equal(replies[2]?.lines[0], '4.3.0 Internal error, closing transmission channel');
    await a.closed();
    const id = await submitBdat(barge, 'bob@localhost', 'Subject: kept\r\n\r\nhi\r\n');
    const box = await eventually(
      async () => {
        const m = await barge.mailbox('bob@localhost');
        return m.length > 0 ? m : undefined;
      },
      10_000,
      'the second message',
    );
    assert.equal(box.length, 1);
    assert.match(box[0]?.toString('latin1') ?? '', /Subject: kept/);
    const received = (await barge.tracking()).filter((e) => e.event === 'received');
    assert.deepEqual(
      received.map((e) => (e.event === 'received' ? e.id : '')),
      [id],
    );
    const [bug] = await bugsOf(barge);
    assert.equal(bug?.message, 'injected fault in a commit');
  } finally {
    await barge.stop();
  }
});

test('a throw in an outbound session defers the message (never bounced); the next attempt delivers it', async () => {
  const receiver = await startBarge('', { localDomain: ['remote.test'], hostname: 'receiver.test' });
  let armed = true;
  const bugs: string[] = [];
  const deps: ServerDeps = {
    bugs: (text) => bugs.push(text),
    faults: {
      // The EHLO reply of the first session: the session code throws while reading it.
      outbound: (replies) => {
        if (armed && replies.includes('CHUNKING')) {
          armed = false;
          throw new Error('injected fault in an outbound session');
        }
      },
    },
  };
  const sender = await startBarge('', { route: [`remote.test=127.0.0.1:${receiver.port}`] }, undefined, deps);
  try {
    const id = await submitBdat(sender, 'bob@remote.test', 'Subject: relayed\r\n\r\nhi\r\n');
    const deferred = await eventually(
      async () => (await sender.tracking()).find((e) => e.event === 'deferred' && e.id === id),
      10_000,
      'the deferral',
    );
    assert.ok(deferred.event === 'deferred');
    assert.match(deferred.reason, /internal error in Barge \(a bug, reported\): injected fault in an outbound session/);
    assert.ok(deferred.nextAttempt !== undefined, 'retried later');
    const [bug] = await bugsOf(sender);
    assert.equal(bug?.where, 'outbound');
    assert.equal(bug?.destination, `127.0.0.1:${receiver.port}`);
    assert.equal(bugs.length, 1);
    assert.deepEqual(await receiver.mailbox('bob@remote.test'), []);
    // The retry (ETRN-style: retry times cleared for the domain) delivers it.
    await sender.server.runner.scan('remote.test');
    const box = await eventually(
      async () => {
        const m = await receiver.mailbox('bob@remote.test');
        return m.length > 0 ? m : undefined;
      },
      15_000,
      'delivery on the next attempt',
    );
    assert.equal(box.length, 1);
    const events = await sender.tracking();
    assert.ok(events.some((e) => e.event === 'delivered' && e.id === id));
    assert.equal(events.filter((e) => e.event === 'bounced').length, 0, 'never bounced for our own bug');
    await eventually(async () => ((await sender.server.spool.list()).length === 0 ? true : undefined), 5000, 'the queue to empty');
  } finally {
    await sender.stop();
    await receiver.stop();
  }
});
