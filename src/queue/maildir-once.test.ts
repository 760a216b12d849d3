/**
 * Exactly once after a crash: the restarted runner repeats an attempt whose Maildir copy was made
 * but whose queue state was never written (the crash point between the two). It must find the copy.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Spool, type SpoolEnvelope } from './spool.js';
import { attempt, type AttemptDeps } from './attempt.js';
import { initialState } from './runner.js';
import { realClock } from '../time/clock.js';
import { mailboxFolder } from './maildir.js';
import { deliveryName } from './maildir-once.js';
import type { TrackingEvent } from '../log/tracking.js';

const RCPT = 'once@mx.test';
const BODY = 'Subject: once\r\n\r\nhello\r\n';

/** Closed at the end: each test's spool stays open through its simulated crash and restart. */
const opened: Spool[] = [];
after(async () => {
  await Promise.allSettled(opened.map((s) => s.close()));
});

async function setup(dir: string): Promise<{ deps: AttemptDeps; envelope: SpoolEnvelope; events: TrackingEvent[] }> {
  const spool = await Spool.open(join(dir, 'spool'));
  opened.push(spool);
  const writer = spool.begin('0MIJ3K2Q0ABCDEF1234');
  writer.write(Buffer.from(BODY));
  const envelope = await spool.commit(writer, {
    id: writer.id,
    receivedAt: new Date().toISOString(),
    listener: 'test',
    clientIp: '127.0.0.1',
    helo: 'c.test',
    protocol: 'ESMTP',
    method: 'DATA',
    chunks: 0,
    size: BODY.length,
    transaction: { from: 'a@c.test', body: '7BIT', smtputf8: false, rcpts: [{ address: RCPT, local: true }] },
  });
  const events: TrackingEvent[] = [];
  const deps: AttemptDeps = {
    spool,
    mailRoot: join(dir, 'mail'),
    hostname: 'mx.test',
    clock: realClock,
    track: (e) => void events.push(e),
    retry: { scheduleMs: [60_000], lifetimeMs: 86_400_000, delayWarningMs: 3_600_000, localRetryMs: 60_000 },
  };
  return { deps, envelope, events };
}

async function copies(box: string): Promise<string[]> {
  return [...(await readdir(join(box, 'new'))), ...(await readdir(join(box, 'cur')))];
}

test('a repeated attempt after a crash before the queue update finds the copy already made', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'barge-once-'));
  try {
    const { deps, envelope, events } = await setup(dir);
    const box = mailboxFolder(deps.mailRoot, RCPT);
    const first = await attempt(envelope.id, envelope, initialState(envelope), deps);
    assert.equal(first.state.rcpts[0]?.status, 'delivered');
    assert.equal((await copies(box)).length, 1);
    // The crash: the state above was never written, so the restarted runner starts from the envelope again.
    const again = await attempt(envelope.id, envelope, initialState(envelope), deps);
    assert.equal(again.state.rcpts[0]?.status, 'delivered');
    assert.deepEqual(await copies(box), [deliveryName(envelope.id, RCPT, 'mx.test')], 'one copy, under the stable name');
    assert.equal(events.filter((e) => e.event === 'delivered').length, 2);

    // A mail reader moved it to cur/ and flagged it seen: still found, still one copy.
    const name = deliveryName(envelope.id, RCPT, 'mx.test');
    await rename(join(box, 'new', name), join(box, 'cur', `${name}:2,S`));
    await attempt(envelope.id, envelope, initialState(envelope), deps);
    assert.deepEqual(await copies(box), [`${name}:2,S`]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a partial tmp/ file left by a crash mid-write is replaced by the whole message', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'barge-once-'));
  try {
    const { deps, envelope } = await setup(dir);
    const box = mailboxFolder(deps.mailRoot, RCPT);
    const name = deliveryName(envelope.id, RCPT, 'mx.test');
    await attempt(envelope.id, envelope, initialState(envelope), deps);
    await rm(join(box, 'new', name));
    await writeFile(join(box, 'tmp', name), 'Return-Path: <a@c.te');
    const { state } = await attempt(envelope.id, envelope, initialState(envelope), deps);
    assert.equal(state.rcpts[0]?.status, 'delivered');
    assert.ok((await readFile(join(box, 'new', name), 'latin1')).endsWith(BODY));
    assert.deepEqual(await readdir(join(box, 'tmp')), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('stable names differ by recipient and queue id and keep the Maildir form', () => {
  const a = deliveryName('0MIJ3K2Q0ABCDEF1234', 'x@mx.test', 'mx.test');
  assert.notEqual(a, deliveryName('0MIJ3K2Q0ABCDEF1234', 'y@mx.test', 'mx.test'));
  assert.notEqual(a, deliveryName('0MIJ3K2Q0ABCDEF9999', 'x@mx.test', 'mx.test'));
  assert.equal(a, deliveryName('0MIJ3K2Q0ABCDEF1234', 'X@MX.TEST', 'mx.test'));
  assert.match(a, /^\d+\.[^./:]+\.mx\.test$/);
});
