import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReadBudget } from './line-reader.js';
import { searchTracking } from './tracking-search.js';
import { TrackingLog } from './tracking.js';
import { writeHistory, type History } from '../../test/support/tracking-history.js';
import { clockAt } from '../../test/support/virtual-clock.js';

let dir: string;
let history: History;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'barge-search-'));
  history = await writeHistory(dir);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const search = (q: Parameters<typeof searchTracking>[1], limit = 200, budget = new ReadBudget()): ReturnType<typeof searchTracking> =>
  searchTracking(dir, q, { limit, budget });

test('newest first, at most a page, reading only the end of the newest day', async () => {
  const budget = new ReadBudget();
  const page = await search({}, 200, budget);
  assert.deepEqual(
    page.messages.map((m) => m.received.id),
    history.received.slice(-200).reverse(),
  );
  assert.equal(page.searchedBackTo, undefined);
  assert.ok(budget.used <= 256 * 1024, `read ${budget.used} bytes: one block`);
  assert.deepEqual([...(page.messages[0]?.outcomes ?? [])], [[page.messages[0]?.received.rcpts[0], 'delivered']]);
});

test("sender and recipient are substrings, any case; outcomes are each recipient's latest", async () => {
  const late = await search({ sender: 'LATE@example', recipient: 'slow@' });
  assert.deepEqual(
    late.messages.map((m) => [m.received.id, [...m.outcomes]]),
    [[history.late, [['slow@example.net', 'delivered']]]],
  );
  const one = await search({ recipient: 'user1234@example.net' });
  assert.equal(one.messages.length, 1);
  assert.equal(one.messages[0]?.received.from, 'sender1234@example.org');
});

test('a time range: the reading starts at its end, and outcomes recorded after it still show', async () => {
  const since = new Date('2024-03-05T23:00:00Z');
  const until = new Date('2024-03-05T23:55:00Z');
  const page = await search({ since, until, sender: 'late@' });
  assert.deepEqual(
    page.messages.map((m) => [m.received.id, [...m.outcomes]]),
    [[history.late, [['slow@example.net', 'delivered']]]],
  );
  const all = await search({ since, until });
  assert.ok(all.messages.length > 0);
  for (const m of all.messages)
    assert.ok(m.received.time >= since.toISOString() && m.received.time <= until.toISOString(), m.received.time);
});

test('when the budget stops a search it says how far back it got', async () => {
  const budget = new ReadBudget(256 * 1024);
  const page = await search({ recipient: 'nobody-at-all@' }, 200, budget);
  assert.deepEqual(page.messages, []);
  assert.ok(budget.exhausted);
  assert.match(page.searchedBackTo ?? '', /^2024-03-07T\d\d:\d\d:\d\d\.\d{3}Z$/);
  const whole = await search({ recipient: 'nobody-at-all@' });
  assert.deepEqual([whole.messages, whole.searchedBackTo], [[], undefined], 'the default budget covers this small history');
});

test('an id that is not a queue id (no arrival time) still gets its outcomes', async () => {
  const odd = await mkdtemp(join(tmpdir(), 'barge-search-'));
  try {
    const log = new TrackingLog({ dir: odd, clock: clockAt(() => new Date('2024-03-05T10:00:00Z')) });
    log.record({
      event: 'received',
      id: 'legacy-1',
      listener: 'smtp',
      clientIp: '192.0.2.9',
      helo: 'h',
      from: 'a@b.example',
      rcpts: ['c@d.example'],
      size: 1,
      body: '7BIT',
      smtputf8: false,
      method: 'DATA',
      chunks: 0,
    });
    log.record({ event: 'bounced', id: 'legacy-1', rcpt: 'c@d.example', reason: '550 5.1.1 no' });
    await log.close();
    const page = await searchTracking(odd, {}, { limit: 10, budget: new ReadBudget() });
    assert.deepEqual(
      page.messages.map((m) => [m.received.id, [...m.outcomes]]),
      [['legacy-1', [['c@d.example', 'bounced']]]],
    );
  } finally {
    await rm(odd, { recursive: true, force: true });
  }
});
