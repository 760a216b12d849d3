import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clockAt } from '../../test/support/virtual-clock.js';
import { TrackingLog, readTrackingLog, type TrackingEvent } from './tracking.js';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'barge-track-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const received: TrackingEvent = {
  event: 'received',
  id: 'm1',
  listener: 'smtp',
  clientIp: '192.0.2.1',
  helo: 'client.example',
  from: 'a@example.org',
  rcpts: ['b@example.net', 'c@example.net'],
  size: 1234,
  body: 'BINARYMIME',
  smtputf8: false,
  method: 'BDAT',
  chunks: 3,
};

test('events are appended in order, stamped, and read back', async () => {
  await withDir(async (dir) => {
    let t = Date.parse('2024-03-05T10:00:00Z');
    const log = new TrackingLog({ dir: join(dir, 'tracking'), clock: clockAt(() => new Date(t)) });
    log.record(received);
    for (let i = 0; i < 200; i++) {
      t += 1;
      log.record({
        event: 'deferred',
        id: 'm1',
        rcpt: `r${i}@example.net`,
        reason: '451 4.7.1 try later',
        nextAttempt: '2024-03-05T10:15:00.000Z',
      });
    }
    log.record({ event: 'completed', id: 'm1' });
    await log.close();
    const files = await readdir(join(dir, 'tracking'));
    assert.deepEqual(files.sort(), ['index', 'track-20240305.jsonl']);
    // Each event about the message has its line in the day's index: id, base-36 time, event,
    // after a header saying from when the index holds every event (here: since the log was opened).
    const index = (await readFile(join(dir, 'tracking', 'index', 'track-20240305.idx'), 'utf8')).split('\n');
    const at = Date.parse('2024-03-05T10:00:00Z').toString(36).toUpperCase().padStart(9, '0');
    assert.equal(index.length, 204);
    assert.equal(index[0], `# indexed from ${at}`);
    assert.equal(index[1], `m1 ${at} received`);
    assert.match(index[2] ?? '', /^m1 [0-9A-Z]{9} deferred$/);
    assert.match(index[202] ?? '', /^m1 [0-9A-Z]{9} completed$/);
    const records = await readTrackingLog(join(dir, 'tracking'));
    assert.equal(records.length, 202);
    assert.deepEqual(records[0], { time: '2024-03-05T10:00:00.000Z', ...received });
    assert.deepEqual(
      records.slice(1, 201).map((r) => (r.event === 'deferred' ? r.rcpt : '')),
      Array.from({ length: 200 }, (_, i) => `r${i}@example.net`),
    );
    assert.deepEqual(records[201], { time: '2024-03-05T10:00:00.200Z', event: 'completed', id: 'm1' });
    const raw = await readFile(join(dir, 'tracking', 'track-20240305.jsonl'), 'utf8');
    assert.equal(raw.split('\n').length, 203, 'one line per event, newline-terminated');
    assert.ok(raw.startsWith('{"time":"2024-03-05T10:00:00.000Z","event":"received",'));
  });
});

test('files are per UTC day and read back in date order', async () => {
  await withDir(async (dir) => {
    let now = new Date('2024-03-06T00:00:05Z');
    const log = new TrackingLog({ dir, clock: clockAt(() => now) });
    log.record({ event: 'bounced', id: 'm2', rcpt: 'x@example.net', reason: '550 5.1.1 no such user' });
    await log.flush();
    now = new Date('2024-03-05T23:59:59Z');
    log.record({ event: 'rejected', listener: 'smtp', clientIp: '192.0.2.2', from: 'a@b', reason: 'relay denied', method: 'NONE' });
    await log.close();
    assert.deepEqual((await readdir(dir)).sort(), ['index', 'track-20240305.jsonl', 'track-20240306.jsonl']);
    // Each day's index files are begun with the day; only events about a message are indexed (the rejection has no queue id).
    const index = await readdir(join(dir, 'index'));
    assert.deepEqual(
      index.sort(),
      ['20240305', '20240306'].flatMap((d) => [`track-${d}.idx`, `track-${d}.later.idx`, `track-${d}.mid`]),
    );
    assert.match(await readFile(join(dir, 'index', 'track-20240305.idx'), 'utf8'), /^# indexed from [0-9A-Z]{9}\n$/);
    assert.match(
      await readFile(join(dir, 'index', 'track-20240306.idx'), 'utf8'),
      /^# indexed from [0-9A-Z]{9}\nm2 [0-9A-Z]{9} bounced\n$/,
    );
    const records = await readTrackingLog(dir);
    assert.deepEqual(
      records.map((r) => r.event),
      ['rejected', 'bounced'],
    );
  });
});

test('CR/LF in values cannot split an event; torn and foreign lines are skipped on read', async () => {
  await withDir(async (dir) => {
    const log = new TrackingLog({ dir, clock: clockAt(() => new Date('2024-03-05T12:00:00Z')) });
    log.record({
      event: 'delivered',
      id: 'm3',
      rcpt: 'b@example.net',
      via: 'smtp',
      detail: '250 ok\r\n{"event":"completed","id":"forged","time":"x"}',
    });
    await log.close();
    const file = join(dir, 'track-20240305.jsonl');
    assert.equal((await readFile(file, 'utf8')).split('\n').length, 2);
    await appendFile(file, '{"time":"2024-03-05T12:00:01.000Z","dropped":3}\n{"time":"2024-03-05T12:00:02.000Z","event":"comp');
    await writeFile(join(dir, 'notes.txt'), '{"time":"t","event":"completed","id":"no"}\n');
    const records = await readTrackingLog(dir);
    assert.equal(records.length, 1);
    const only = records[0];
    assert.ok(only?.event === 'delivered');
    assert.match(only.detail, /\r\n\{"event":"completed"/);
  });
});

test('a missing directory reads as empty', async () => {
  await withDir(async (dir) => {
    assert.deepEqual(await readTrackingLog(join(dir, 'nothing-yet')), []);
  });
});

test('a write error calls onError once and does not throw', async () => {
  await withDir(async (dir) => {
    const notADir = join(dir, 'tracking');
    await writeFile(notADir, '');
    const errors: Error[] = [];
    const log = new TrackingLog({ dir: notADir, onError: (e) => errors.push(e) });
    assert.doesNotThrow(() => log.record({ event: 'completed', id: 'm4' }));
    log.record({ event: 'completed', id: 'm5' });
    await log.close();
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof Error);
    assert.equal(await readFile(notADir, 'utf8'), '');
  });
});
