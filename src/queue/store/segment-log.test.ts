import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, open, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { text } from 'node:stream/consumers';
import { Readable } from 'node:stream';
import { SegmentLog, type AppendOutcome } from './segment-log.js';
import { encodeMessage, messageSize } from './record.js';
import { bodyOf } from '../../../test/support/segment-log-writer.js';
import { ReadHold, settlesWithin } from '../../../test/support/read-hold.js';

const WRITER = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..', 'test', 'support', 'segment-log-writer.js');

async function withDir(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'barge-segments-'));
  try {
    await f(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('appended messages read back after reopening; done ones are gone', async () => {
  await withDir(async (dir) => {
    const { log } = await SegmentLog.open(dir);
    const outcomes = await Promise.all(
      ['A1', 'A2', 'A3'].map((id) => log.append(id, `{"id":"${id}"}`, [Buffer.from(`body of ${id}\r\n`)])),
    );
    assert.deepEqual(
      outcomes.map((o) => o.kind),
      ['durable', 'durable', 'durable'],
    );
    assert.equal((await log.done('A2')).kind, 'durable');
    await log.close();
    const { log: again, recovery } = await SegmentLog.open(dir);
    assert.deepEqual(again.ids(), ['A1', 'A3']);
    assert.equal(recovery.messages, 2);
    assert.equal(recovery.tornSegments, 0);
    assert.equal(again.envelope('A3'), '{"id":"A3"}');
    const stream = again.messageStream('A3');
    assert.ok(stream !== undefined);
    assert.equal(await text(stream), 'body of A3\r\n');
    await again.close();
  });
});

test('messages that arrive during a flush share the next one (group commit)', async () => {
  await withDir(async (dir) => {
    const { log } = await SegmentLog.open(dir);
    const n = 500;
    const outcomes = await Promise.all(Array.from({ length: n }, (_, i) => log.append(`G${i}`, '{}', [Buffer.alloc(1024, 0x61)])));
    assert.ok(outcomes.every((o) => o.kind === 'durable'));
    assert.ok(log.syncs < n / 10, `${log.syncs} flushes for ${n} concurrent appends`);
    await log.close();
  });
});

test('segments whose messages are all done are reused, so the log stays bounded', async () => {
  await withDir(async (dir) => {
    const { log } = await SegmentLog.open(dir, { segmentSize: 64 * 1024 });
    for (let round = 0; round < 40; round++) {
      const ids = Array.from({ length: 20 }, (_, i) => `R${round}-${i}`);
      await Promise.all(ids.map((id) => log.append(id, '{}', [Buffer.alloc(1000, 0x62)])));
      await Promise.all(ids.map((id) => log.done(id)));
    }
    // 800 KB went through a log of 64 KB segments; only a few files exist.
    const files = (await readdir(dir)).filter((n) => n.endsWith('.seg'));
    assert.ok(files.length <= 3, `${files.length} segment files`);
    await log.close();
    const { log: again, recovery } = await SegmentLog.open(dir, { segmentSize: 64 * 1024 });
    assert.equal(again.size, 0);
    assert.equal(recovery.tornSegments, 0, 'a reused file ends cleanly, not in stale bytes');
    await again.close();
  });
});

test('replay does not reuse a segment that only looked empty halfway through', async () => {
  await withDir(async (dir) => {
    const size = 16 * 1024;
    const { log } = await SegmentLog.open(dir, { segmentSize: size });
    await log.append('A', '{}', [Buffer.from('a')]);
    await log.done('A');
    await log.append('B', '{}', [Buffer.from('kept')]);
    await log.close();
    const { log: again } = await SegmentLog.open(dir, { segmentSize: size });
    // Enough to fill several segments: any segment on the free list is overwritten.
    for (let i = 0; i < 40; i++) await again.append(`F${i}`, '{}', [Buffer.alloc(2000)]);
    await again.close();
    const { log: third } = await SegmentLog.open(dir, { segmentSize: size });
    const stream = third.messageStream('B');
    assert.ok(stream !== undefined, 'B was lost');
    assert.equal(await text(stream), 'kept');
    await third.close();
  });
});

test('a torn record at the tail (cut short, or whole length with bad bytes) is never exposed, and is reported', async () => {
  for (const damage of ['cut', 'flipped'] as const) {
    await withDir(async (dir) => {
      const { log } = await SegmentLog.open(dir);
      await log.append('A', '{}', [Buffer.from('whole')]);
      await log.close();
      // The state a power cut leaves mid-flush: B's record only partly on disk, after A's.
      const b = Buffer.concat(encodeMessage(1, 'B', '{}', [Buffer.alloc(3000, 0x62)]));
      const torn = damage === 'cut' ? b.subarray(0, 1500) : Buffer.from(b.map((x, i) => (i === b.length - 10 ? x ^ 1 : x)));
      const file = await open(join(dir, '0000000001.seg'), 'r+');
      await file.write(torn, 0, torn.length, messageSize('A', '{}', [Buffer.from('whole')]));
      await file.close();
      const { log: again, recovery } = await SegmentLog.open(dir);
      assert.deepEqual(again.ids(), ['A'], `${damage}: only the complete record counts`);
      assert.equal(recovery.tornSegments, 1);
      // New appends go to a fresh segment, never after the torn bytes.
      assert.equal((await again.append('C', '{}', [Buffer.from('c')])).kind, 'durable');
      await again.close();
      const { log: third } = await SegmentLog.open(dir);
      assert.deepEqual(third.ids(), ['A', 'C']);
      await third.close();
    });
  }
});

test("a message's current state keeps its segment from reuse, also after the message is rewritten; the latest wins", async () => {
  await withDir(async (dir) => {
    const { log } = await SegmentLog.open(dir, { segmentSize: 4096 });
    const body = (c: string): Buffer[] => [Buffer.alloc(1500, c)];
    // Two messages a segment: [OLD v1, F1] [F2, OLD's state, F3] [F4, OLD v2].
    for (const id of ['OLD', 'F1', 'F2']) await log.append(id, '{}', body('a'));
    await log.setState('OLD', '{"attempts":1}');
    for (const id of ['F3', 'F4']) await log.append(id, '{}', body('a'));
    await log.append('OLD', '{"rewritten":true}', body('b'));
    for (const id of ['F1', 'F2', 'F3', 'F4']) await log.done(id);
    // New messages reuse the free segments; the one holding OLD's state is not free.
    for (const id of ['N1', 'N2', 'N3', 'N4', 'N5']) await log.append(id, '{}', body('n'));
    await log.close();
    const { log: again } = await SegmentLog.open(dir, { segmentSize: 4096 });
    assert.equal(again.state('OLD'), '{"attempts":1}');
    assert.equal(again.envelope('OLD'), '{"rewritten":true}');
    assert.deepEqual(again.ids().sort(), ['N1', 'N2', 'N3', 'N4', 'N5', 'OLD']);
    const stream = again.messageStream('OLD');
    assert.ok(stream !== undefined);
    assert.equal(await text(stream), 'b'.repeat(1500));
    await again.close();
  });
});

test('a record too large for a segment is refused with a typed failure', async () => {
  await withDir(async (dir) => {
    const { log } = await SegmentLog.open(dir, { segmentSize: 4096 });
    const outcome = await log.append('BIG', '{}', [Buffer.alloc(8192)]);
    assert.equal(outcome.kind, 'failed');
    await log.close();
  });
});

interface Run {
  readonly acked: string[];
  readonly done: string[];
  /** DONE written but not yet confirmed when the child died: either outcome is correct. */
  readonly retiring: string[];
  readonly failed: string[];
  readonly recovered: string;
}

/** Runs the writer child until `acks` messages are acknowledged, then kills it with SIGKILL. */
function runWriter(dir: string, segmentSize: number, first: number, acks: number, shell?: string): Promise<Run> {
  const args = [WRITER, dir, String(segmentSize), String(first)];
  const child =
    shell === undefined ? spawn(process.execPath, args) : spawn('bash', ['-c', `${shell}; exec "$0" "$@"`, process.execPath, ...args]);
  const run: Run = { acked: [], done: [], retiring: [], failed: [], recovered: '' };
  let buffered = '';
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const [what, id = '', ...rest] = line.split(' ');
        if (what === 'ack') run.acked.push(id);
        else if (what === 'done') run.done.push(id);
        else if (what === 'retiring') run.retiring.push(id);
        else if (what === 'fail') run.failed.push(`${id} ${rest.join(' ')}`);
        else if (what === 'recovered') (run as { recovered: string }).recovered = id;
      }
      if (run.acked.length >= acks || run.failed.length >= 20) child.kill('SIGKILL');
    });
    child.once('error', reject);
    child.once('exit', () => resolve(run));
  });
}

test('kill -9 while writing: every acknowledged message survives whole, none is partial, done stays done', {
  timeout: 60_000,
}, async () => {
  await withDir(async (dir) => {
    const size = 64 * 1024;
    const acked = new Set<string>();
    const done = new Set<string>();
    const retiring = new Set<string>();
    for (let round = 0; round < 4; round++) {
      const run = await runWriter(dir, size, round * 1_000_000, 400 + round * 137);
      assert.deepEqual(run.failed, []);
      if (round > 0) assert.match(run.recovered, /"messages":\d+/, 'recovery is reported at open');
      for (const id of run.acked) acked.add(id);
      for (const id of run.done) done.add(id);
      for (const id of run.retiring) retiring.add(id);
      const { log } = await SegmentLog.open(dir, { segmentSize: size });
      const live = new Set(log.ids());
      for (const id of acked) if (!retiring.has(id)) assert.ok(live.has(id), `acknowledged ${id} is missing after kill -9`);
      for (const id of done) assert.ok(!live.has(id), `${id} was retired durably but came back`);
      for (const id of live) {
        const stream = log.messageStream(id);
        assert.ok(stream !== undefined);
        assert.ok((await text(stream)) === bodyOf(id).toString(), `${id} is not whole`);
      }
      await log.close();
    }
  });
});

test('a write the file system refuses gives a typed failure, not a crash or an acknowledgement', { timeout: 30_000 }, async () => {
  await withDir(async (dir) => {
    // RLIMIT_FSIZE of 64 KiB: the 1 MiB segment cannot be laid out, and the write fails with EFBIG.
    const run = await runWriter(dir, 1024 * 1024, 0, 1, 'ulimit -f 64');
    assert.deepEqual(run.acked, []);
    assert.ok(run.failed.length > 0);
    assert.match(run.failed[0] ?? '', /EFBIG|too large/i);
  });
});

test('a message deferred for ever does not pin the log: its records move forward and old segments are reused', async () => {
  await withDir(async (dir) => {
    const segmentSize = 64 * 1024;
    const { log } = await SegmentLog.open(dir, { segmentSize });
    await log.append('PINNED', '{"id":"PINNED"}', [Buffer.from('deferred body\r\n')]);
    await log.setState('PINNED', '{"attempts":1}');
    let peak = 0;
    for (let round = 0; round < 80; round++) {
      const ids = Array.from({ length: 20 }, (_, i) => `R${round}-${i}`);
      await Promise.all(ids.map((id) => log.append(id, '{}', [Buffer.alloc(1000, 0x62)])));
      await Promise.all(ids.map((id) => log.done(id)));
      if (round === 40) await log.setState('PINNED', '{"attempts":2}');
      peak = Math.max(peak, (await readdir(dir)).filter((n) => n.endsWith('.seg')).length);
    }
    // 1.6 MB went through 64 KB segments while PINNED stayed; without compaction every segment stays.
    assert.ok(peak <= 6, `${peak} segment files`);
    assert.equal(await text(log.messageStream('PINNED') ?? Readable.from([])), 'deferred body\r\n');
    await log.close();
    const { log: again } = await SegmentLog.open(dir, { segmentSize });
    assert.deepEqual(again.ids(), ['PINNED']);
    assert.equal(again.envelope('PINNED'), '{"id":"PINNED"}');
    assert.equal(again.state('PINNED'), '{"attempts":2}', 'the latest state survives the moves');
    assert.equal(await text(again.messageStream('PINNED') ?? Readable.from([])), 'deferred body\r\n');
    await again.close();
  });
});

test('a read begun before its message is compacted away returns the original bytes, and the segment is reused only after it ends', async () => {
  const segmentSize = 4096;
  const original = Buffer.from('the pinned message, as first written\r\n');
  const first = '0000000001.seg';
  // Traffic of two fillers a segment, each retired at once: only PINNED keeps the oldest segment live.
  const step = (log: SegmentLog, i: number): Promise<AppendOutcome> =>
    i % 2 === 0 ? log.append(`F${i / 2}`, '{}', [Buffer.alloc(1500, 0x66)]) : log.done(`F${(i - 1) / 2}`);
  // A first run finds the step at which compaction has moved PINNED and its segment is reused.
  let reusing = -1;
  await withDir(async (dir) => {
    const { log } = await SegmentLog.open(dir, { segmentSize });
    await log.append('PINNED', '{}', [original]);
    for (let i = 0; i < 100 && reusing < 0; i++) {
      assert.equal((await step(log, i)).kind, 'durable');
      if (!(await readdir(dir)).includes(first)) reusing = i;
    }
    await log.close();
  });
  assert.ok(reusing > 0, 'the traffic compacts PINNED away and reuses its segment');
  // The same traffic while a delivery's read of PINNED, begun at its first place, is in flight.
  await withDir(async (dir) => {
    const gate = new ReadHold();
    const { log } = await SegmentLog.open(dir, { segmentSize, beforeRead: gate.pass });
    try {
      await log.append('PINNED', '{}', [original]);
      gate.holdNext();
      const delivery = log.messageBytes('PINNED');
      await gate.holding();
      for (let i = 0; i < reusing; i++) assert.equal((await step(log, i)).kind, 'durable');
      const reuse = step(log, reusing);
      assert.equal(await settlesWithin(reuse, 250), 'pending', 'the segment was reused under a read in flight');
      assert.ok((await readdir(dir)).includes(first));
      assert.deepEqual(await log.messageBytes('PINNED'), original, 'PINNED reads at its new place meanwhile');
      gate.open();
      assert.deepEqual(await delivery, original);
      assert.equal((await reuse).kind, 'durable');
      assert.ok(!(await readdir(dir)).includes(first), 'the segment is reused once the read has ended');
    } finally {
      gate.open();
      await log.close();
    }
  });
});

test('a message stream made before its message is compacted away reads the message at its new place', async () => {
  const original = Buffer.from('the pinned message, as first written\r\n');
  await withDir(async (dir) => {
    const { log } = await SegmentLog.open(dir, { segmentSize: 4096 });
    try {
      await log.append('PINNED', '{}', [original]);
      // Made now, read only after the traffic below has moved PINNED and reused its first segment.
      const stream = log.messageStream('PINNED');
      for (let i = 0; (await readdir(dir)).includes('0000000001.seg'); i++) {
        assert.ok(i < 200, 'the traffic compacts PINNED away and reuses its segment');
        const outcome = i % 2 === 0 ? await log.append(`F${i / 2}`, '{}', [Buffer.alloc(1500, 0x66)]) : await log.done(`F${(i - 1) / 2}`);
        assert.equal(outcome.kind, 'durable');
      }
      const chunks: Buffer[] = [];
      for await (const chunk of stream ?? []) chunks.push(chunk as Buffer);
      assert.deepEqual(Buffer.concat(chunks), original);
    } finally {
      await log.close();
    }
  });
});
