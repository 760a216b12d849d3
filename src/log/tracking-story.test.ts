import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReadBudget } from './line-reader.js';
import { readStory } from './tracking-story.js';
import { indexedEvents, indexHeader, indexPath } from './tracking-index.js';
import { searchTracking } from './tracking-search.js';
import { messageIdHits, messageIdPath } from './tracking-message-ids.js';
import { TrackingLog } from './tracking.js';
import { makeIdSource } from '../message/queue-id.js';
import { writeHistory, type History } from '../../test/support/tracking-history.js';
import { clockAt } from '../../test/support/virtual-clock.js';

let dir: string;
let history: History;
let logBytes = 0;
/** When the message deferred over midnight arrived. */
const ARRIVAL = Date.parse('2024-03-05T23:50:00Z');

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'barge-story-'));
  history = await writeHistory(dir);
  for (const day of ['20240305', '20240306', '20240307']) logBytes += (await stat(join(dir, `track-${day}.jsonl`))).size;
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('a story over a day boundary is found through the index, reading a small part of the log', async () => {
  const budget = new ReadBudget();
  const story = await readStory(dir, history.late, budget);
  assert.deepEqual(
    story.records.map((r) => r.event),
    history.lateEvents,
  );
  assert.deepEqual(
    story.records.map((r) => r.time.slice(0, 10)),
    ['2024-03-05', '2024-03-05', '2024-03-06', '2024-03-06', '2024-03-06'],
  );
  assert.equal(story.stoppedAt, undefined);
  // A stretch of the first-hour index, the later index, a few probes per event: a sliver of the log.
  assert.ok(budget.used * 20 < logBytes, `read ${budget.used} of ${logBytes} bytes`);
});

test("the index: a message's first hour in its arrival day's index, its later events in the later index of their day", async () => {
  const budget = new ReadBudget();
  const arrival = Date.parse('2024-03-05T23:50:00Z');
  const first = await indexedEvents(dir, '20240305', history.late, budget, arrival, arrival + 3_600_000);
  assert.deepEqual(
    first?.events.map((e) => e.event),
    ['received', 'deferred'],
  );
  assert.equal(first?.incomplete, false);
  // The first hour reaches past midnight: the retry at 00:20 is in the next day's first-hour index.
  const next = await indexedEvents(dir, '20240306', history.late, budget, Date.parse('2024-03-06T00:00:00Z'), arrival + 3_600_000);
  assert.deepEqual(
    next?.events.map((e) => [e.event, new Date(e.time).toISOString()]),
    [['deferred', '2024-03-06T00:20:00.000Z']],
  );
  const later = await indexedEvents(dir, '20240306', history.late, budget, arrival + 3_600_001);
  assert.deepEqual(
    later?.events.map((e) => e.event),
    ['delivered', 'completed'],
  );
  assert.equal(await indexedEvents(dir, '20240301', history.late, budget, arrival), undefined, 'no index that day');
  // The later index holds only what waited: a small fraction of the day's events.
  const sizes = await Promise.all([indexPath(dir, '20240306'), indexPath(dir, '20240306', true)].map(async (p) => (await stat(p)).size));
  assert.ok((sizes[1] ?? 0) * 100 < (sizes[0] ?? 0), sizes.join(' vs '));
});

test("the Message-ID index: a day's receipts by Message-ID, any case, newest first, matched in the Message-ID only", async () => {
  const budget = new ReadBudget();
  const hits = await messageIdHits(dir, '20240305', 'LATE-1@example.ORG', 10, budget);
  assert.deepEqual(hits?.hits, [{ id: history.late, time: ARRIVAL }]);
  assert.equal(hits?.coveredFrom, Date.parse('2024-03-05T00:00:00Z'));
  // "noise-1" is in noise-1, noise-10..19, noise-100..199, noise-1000..1999: newest first, at most 5.
  const many = await messageIdHits(dir, '20240305', '<noise-1', 5, budget);
  assert.deepEqual(
    many?.hits.map((h) => h.time),
    [...(many?.hits.map((h) => h.time) ?? [])].sort((a, b) => b - a),
  );
  assert.equal(many?.hits.length, 5);
  // A queue id is not a Message-ID.
  assert.deepEqual((await messageIdHits(dir, '20240305', history.late.slice(0, 12), 10, budget))?.hits, []);
  assert.equal(await messageIdHits(dir, '20240301', 'late-1', 10, budget), undefined, 'no index that day');
  // The whole file is a small fraction of the day's log.
  assert.ok((await stat(messageIdPath(dir, '20240305'))).size * 4 < (await stat(join(dir, 'track-20240305.jsonl'))).size);
});

test('a message delivered at once: the story stops at its day, and it is found by Message-ID, any case', async () => {
  const story = await readStory(dir, history.quick, new ReadBudget());
  assert.deepEqual(
    story.records.map((r) => r.event),
    ['received', 'delivered', 'completed'],
  );
  for (const messageId of [history.lateMessageId, history.lateMessageId.toUpperCase(), 'late-1@example']) {
    const page = await searchTracking(dir, { messageId }, { limit: 200, budget: new ReadBudget() });
    assert.deepEqual(
      page.messages.map((m) => m.received.id),
      [history.late],
      messageId,
    );
    assert.deepEqual([...(page.messages[0]?.outcomes ?? [])], [['slow@example.net', 'delivered']], 'the outcome from the next day');
  }
  const quick = await searchTracking(dir, { messageId: history.quickMessageId }, { limit: 200, budget: new ReadBudget() });
  assert.deepEqual(
    quick.messages.map((m) => m.received.id),
    [history.quick],
  );
});

test('a whole queue id in the search reads the story', async () => {
  const budget = new ReadBudget();
  const page = await searchTracking(dir, { id: history.late }, { limit: 200, budget });
  assert.deepEqual(
    page.messages.map((m) => [m.received.id, [...m.outcomes]]),
    [[history.late, [['slow@example.net', 'delivered']]]],
  );
  assert.ok(budget.used * 20 < logBytes, `read ${budget.used} of ${logBytes} bytes`);
});

/** A smaller history of its own, for a test that spoils its index. */
async function withOwnHistory(fn: (copy: string, h: History) => Promise<void>): Promise<void> {
  const copy = await mkdtemp(join(tmpdir(), 'barge-story-'));
  try {
    await fn(copy, await writeHistory(copy, 300));
  } finally {
    await rm(copy, { recursive: true, force: true });
  }
}

test("without a day's index, or with a lossy one, the story is still whole (read from the day file)", async () => {
  await withOwnHistory(async (copy, h) => {
    await rm(indexPath(copy, '20240306', true));
    assert.deepEqual(
      (await readStory(copy, h.late, new ReadBudget())).records.map((r) => r.event),
      h.lateEvents,
    );
    // A lost index line marks that stretch of the index as incomplete.
    await appendFile(indexPath(copy, '20240305'), '# 3 lost\n');
    const stretch = await indexedEvents(copy, '20240305', h.late, new ReadBudget(), ARRIVAL, ARRIVAL + 3_600_000);
    assert.equal(stretch?.incomplete, true);
    assert.deepEqual(
      (await readStory(copy, h.late, new ReadBudget())).records.map((r) => r.event),
      h.lateEvents,
    );
  });
});

test('an index begun after the message arrived (an upgrade that day): the earlier events come from the day file', async () => {
  await withOwnHistory(async (copy, h) => {
    // The index as a server upgraded at 23:55 would have begun it: the receipt (23:50) and first deferral are not in it.
    const cut = Date.parse('2024-03-05T23:55:00Z');
    const kept = (await readFile(indexPath(copy, '20240305'), 'utf8'))
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#') && parseInt(l.split(' ')[1] ?? '0', 36) >= cut);
    await writeFile(indexPath(copy, '20240305'), [indexHeader(cut), ...kept.map((l) => `${l}\n`)].join(''));
    const stretch = await indexedEvents(copy, '20240305', h.late, new ReadBudget(), ARRIVAL, ARRIVAL + 3_600_000);
    assert.deepEqual([stretch?.events.length, stretch?.incomplete], [0, true]);
    assert.deepEqual(
      (await readStory(copy, h.late, new ReadBudget())).records.map((r) => r.event),
      h.lateEvents,
    );
  });
});

test('an id that is not a queue id is looked for in the newest days; the budget stops a story and says where', async () => {
  const odd = await mkdtemp(join(tmpdir(), 'barge-story-'));
  try {
    let t = Date.parse('2024-03-05T10:00:00Z');
    const log = new TrackingLog({ dir: odd, clock: clockAt(() => new Date(t)) });
    log.record({ event: 'bounced', id: 'legacy-1', rcpt: 'x@example.net', reason: '550 5.1.1 no such user' });
    t += 86_400_000;
    log.record({ event: 'completed', id: 'legacy-1' });
    await log.close();
    assert.deepEqual(
      (await readStory(odd, 'legacy-1', new ReadBudget())).records.map((r) => r.event),
      ['bounced', 'completed'],
    );
  } finally {
    await rm(odd, { recursive: true, force: true });
  }
  const small = new ReadBudget(4096);
  const story = await readStory(dir, history.late, small);
  assert.ok(small.exhausted);
  assert.ok(story.stoppedAt !== undefined && story.stoppedAt >= '2024-03-05T23:50:00.000Z', String(story.stoppedAt));
});

test('a message still in the queue: each later day costs its (empty) later index, not its day file', async () => {
  const own = await mkdtemp(join(tmpdir(), 'barge-story-'));
  try {
    let t = Date.parse('2024-03-05T10:00:00Z');
    const clock = clockAt(() => new Date(t));
    const nextId = makeIdSource(clock);
    const log = new TrackingLog({ dir: own, clock });
    const waiting = nextId();
    log.record({ event: 'deferred', id: waiting, rcpt: 'slow@example.net', reason: '451 4.7.1 later' });
    // Two more days of other traffic, delivered at once.
    for (let i = 0; i < 4000; i++) {
      t += 40_000;
      const id = nextId();
      log.record({ event: 'delivered', id, rcpt: `u${i}@example.net`, via: 'smtp', detail: '250 2.0.0 ok' });
      log.record({ event: 'completed', id });
      if (i % 500 === 0) await log.flush();
    }
    await log.close();
    const budget = new ReadBudget();
    const story = await readStory(own, waiting, budget);
    assert.deepEqual(
      story.records.map((r) => r.event),
      ['deferred'],
    );
    assert.ok(budget.used < 64 * 1024, `read ${budget.used} bytes`);
  } finally {
    await rm(own, { recursive: true, force: true });
  }
});
