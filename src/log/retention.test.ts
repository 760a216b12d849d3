import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keepLogs, removeOldLogs } from './retention.js';
import { VirtualClock } from '../../test/support/virtual-clock.js';
import { buildConfig } from '../config/validate.js';

/** A log folder with day files of both logs and of the index for each day of March 2024 up to the 31st, and a few others. */
async function logFolder(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'barge-retention-'));
  await mkdir(join(dir, 'tracking', 'index'), { recursive: true });
  await mkdir(join(dir, 'SMTPSVC1'));
  await mkdir(join(dir, 'SMTPSVC2'));
  for (let d = 1; d <= 31; d++) {
    const dd = String(d).padStart(2, '0');
    await writeFile(join(dir, 'tracking', `track-202403${dd}.jsonl`), '{}\n');
    await writeFile(join(dir, 'tracking', 'index', `track-202403${dd}.idx`), '');
    await writeFile(join(dir, 'tracking', 'index', `track-202403${dd}.later.idx`), '');
    await writeFile(join(dir, 'tracking', 'index', `track-202403${dd}.mid`), '');
    await writeFile(join(dir, 'SMTPSVC1', `ex2403${dd}.log`), '#Version: 1.0\r\n');
  }
  await writeFile(join(dir, 'SMTPSVC2', 'ex240301.log'), '');
  // Not Barge's day files: never touched.
  await writeFile(join(dir, 'SMTPSVC1', 'notes.txt'), '');
  await writeFile(join(dir, 'tracking', 'track-old.jsonl.gz'), '');
  return dir;
}

const days = async (dir: string): Promise<string[]> => (await readdir(dir)).sort();

test("files older than keep_days are removed (today counts as one), today's and other files are kept", async () => {
  const dir = await logFolder();
  try {
    const removed = await removeOldLogs(dir, 30, new Date('2024-03-31T08:00:00Z'));
    // 30 days up to the 31st begin on the 2nd: only the 1st goes, from each log.
    assert.deepEqual(removed.map((p) => p.slice(dir.length + 1)).sort(), [
      'SMTPSVC1/ex240301.log',
      'SMTPSVC2/ex240301.log',
      'tracking/index/track-20240301.idx',
      'tracking/index/track-20240301.later.idx',
      'tracking/index/track-20240301.mid',
      'tracking/track-20240301.jsonl',
    ]);
    assert.deepEqual(await removeOldLogs(dir, 1, new Date('2024-03-31T23:59:59Z')).then((r) => r.length), 29 * 5);
    assert.deepEqual(await days(join(dir, 'tracking')), ['index', 'track-20240331.jsonl', 'track-old.jsonl.gz']);
    assert.deepEqual(await days(join(dir, 'tracking', 'index')), ['track-20240331.idx', 'track-20240331.later.idx', 'track-20240331.mid']);
    assert.deepEqual(await days(join(dir, 'SMTPSVC1')), ['ex240331.log', 'notes.txt']);
    assert.deepEqual(await days(join(dir, 'SMTPSVC2')), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('keep_days = 0 keeps everything; a missing log folder is no error', async () => {
  const dir = await logFolder();
  try {
    assert.deepEqual(await removeOldLogs(dir, 0, new Date('2030-01-01T00:00:00Z')), []);
    assert.equal((await readdir(join(dir, 'SMTPSVC1'))).length, 32);
    assert.deepEqual(await removeOldLogs(join(dir, 'nothing-here'), 30, new Date('2030-01-01T00:00:00Z')), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('retention runs at start and then once a day on the injected timers, with the keep_days of the moment', async () => {
  const dir = await logFolder();
  const clock = new VirtualClock();
  clock.advance(Date.parse('2024-03-20T12:00:00Z') - clock.now().getTime());
  let keepDays = 10;
  const errors: Error[] = [];
  const retention = keepLogs({ logDir: dir, keepDays: () => keepDays, clock, onError: (e) => errors.push(e) });
  try {
    await retention.idle();
    // The 11th to the 20th are kept, and the days not yet come.
    assert.equal((await days(join(dir, 'SMTPSVC1'))).filter((n) => n.startsWith('ex')).length, 21);
    assert.equal((await days(join(dir, 'tracking'))).filter((n) => n.endsWith('.jsonl')).length, 21);
    clock.advance(23 * 3_600_000);
    await retention.idle();
    assert.equal((await days(join(dir, 'SMTPSVC1'))).filter((n) => n.startsWith('ex')).length, 21, 'nothing more before a day has passed');
    keepDays = 5;
    clock.advance(3_600_000);
    await retention.idle();
    // The 21st: the 17th to the 31st stay.
    assert.deepEqual((await days(join(dir, 'SMTPSVC1')))[0], 'ex240317.log');
    clock.advance(86_400_000);
    await retention.idle();
    assert.deepEqual((await days(join(dir, 'tracking')))[1], 'track-20240318.jsonl');
    assert.deepEqual(errors, []);
  } finally {
    retention.stop();
    await rm(dir, { recursive: true, force: true });
  }
  assert.equal(clock.armed, 0, 'stopping cancels the daily timer');
});

test('[log] keep_days: 30 by default, 0 or more days, a whole number', () => {
  const config = (text?: string): ReturnType<typeof buildConfig> =>
    buildConfig(text === undefined ? undefined : { text, file: 'barge.toml' }, {}, 'h');
  assert.equal(config().log.keepDays, 30);
  assert.equal(config('[log]\nkeep_days = 7').log.keepDays, 7);
  assert.equal(config('[log]\nkeep_days = 0').log.keepDays, 0);
  for (const bad of ['-1', '1.5', '"30d"']) assert.throws(() => config(`[log]\nkeep_days = ${bad}`), /line 2: log\.keep_days/, bad);
});
