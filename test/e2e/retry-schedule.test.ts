/**
 * The default retry schedule, end to end in virtual time: a peer that always answers 4xx sees the
 * message at receipt, then 15 m, 30 m, 1 h and 4 h later, then every 4 h until the 5-day queue
 * lifetime ends; the sender gets one delay warning (after 4 h) and then a failure notice (4.4.7).
 * No timeout or schedule is shortened: the runner's wake-ups run on the test's clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawSmtp } from '../support/raw-client.js';
import { eventually, startBarge } from '../support/barge.js';
import { fakePeer } from '../support/fake-peer.js';
import { VirtualClock } from '../support/virtual-clock.js';
import type { EntryState } from '../../src/queue/runner.js';

const MINUTE = 60_000;
const MESSAGE = 'Subject: retries\r\n\r\nhello\r\n';

test('default retry schedule: 15m, 30m, 1h, 4h, then every 4h; a delay warning after 4h; a 4.4.7 bounce after 5 days', async () => {
  const c = new VirtualClock();
  const tries: number[] = [];
  const peer = await fakePeer({
    rcpt: () => {
      tries.push(c.now().getTime());
      return '451 4.3.0 try later';
    },
  });
  const barge = await startBarge('', { route: [`remote.test=127.0.0.1:${peer.port}`] }, undefined, { clock: c });
  try {
    const client = await RawSmtp.connect(barge.port);
    await client.reply();
    await client.command('EHLO client.test');
    await client.send(`MAIL FROM:<alice@localhost>\r\nRCPT TO:<bob@remote.test>\r\nBDAT ${MESSAGE.length} LAST\r\n${MESSAGE}`);
    const replies = await client.replies(3);
    client.close();
    const id = /queued as ([0-9A-Z]+)/.exec(replies.at(-1)?.lines[0] ?? '')?.[1] ?? '';
    const received = c.now().getTime();
    const entry = async (): Promise<EntryState | undefined> => barge.server.spool.readState<EntryState>(id);

    // Each round: wait for the attempt's state, then move the clock to the retry time it set. The last
    // attempt gives up: the entry leaves the queue, so there is no state to read.
    for (let attempt = 1; ; attempt++) {
      const next = await eventually(
        async () => {
          const s = await entry();
          if (s?.rcpts[0]?.attempts === attempt) return s.rcpts[0].nextAttempt ?? 'none';
          return tries.length === attempt && !barge.server.spool.has(id) ? 'gone' : undefined;
        },
        10_000,
        `attempt ${attempt}`,
      );
      if (next === 'gone' || next === 'none') break;
      c.advance(Date.parse(next) - c.now().getTime());
    }
    const after = tries.map((t) => (t - received) / MINUTE);
    const expected = [0, 15, 45, 105, 345];
    for (let t = 345 + 240; t < 5 * 24 * 60; t += 240) expected.push(t);
    expected.push(5 * 24 * 60);
    assert.deepEqual(after, expected);

    const box = await eventually(
      async () => {
        const b = await barge.mailbox('alice@localhost');
        return b.length >= 2 ? b.map((m) => m.toString('latin1')) : undefined;
      },
      10_000,
      'delay warning and bounce',
    );
    assert.equal(box.length, 2);
    const [warning = '', bounce = ''] = box.sort((a, b) => (/Action: delayed/i.test(a) ? -1 : /Action: delayed/i.test(b) ? 1 : 0));
    assert.match(warning, /Action: delayed/i);
    assert.match(bounce, /Action: failed/i);
    assert.match(bounce, /Status: 4\.4\.7/);
    await eventually(async () => ((await barge.server.spool.list()).length === 0 ? true : undefined), 5000, 'queue to empty');
  } finally {
    await barge.stop();
    await peer.close();
  }
});
