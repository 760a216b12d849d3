/**
 * ETRN against the queue runner's state writes: rescans that clear retry times (what ETRN does) while
 * an entry is being delivered must never turn a delivered recipient back into a pending one, which
 * would send it again. The runner serialises all state work per entry.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawSmtp } from '../support/raw-client.js';
import { eventually, startBarge } from '../support/barge.js';
import { fakePeer } from '../support/fake-peer.js';
import type { EntryState } from '../../src/queue/runner.js';

const MESSAGE = 'Subject: etrn\r\n\r\nhello\r\n';

test('ETRN rescans racing a delivery never resend an already delivered recipient', async () => {
  let acceptA = false;
  // a@ is refused until the test flips it; b@ is always deferred, so the entry stays in the queue.
  const peer = await fakePeer({ rcpt: (address) => (address.startsWith('a@') && acceptA ? '250 2.1.5 OK' : '451 4.3.0 later') });
  const barge = await startBarge('', { route: [`remote.test=127.0.0.1:${peer.port}`] });
  try {
    const c = await RawSmtp.connect(barge.port);
    await c.reply();
    await c.command('EHLO client.test');
    await c.send(
      `MAIL FROM:<alice@localhost>\r\nRCPT TO:<a@remote.test>\r\nRCPT TO:<b@remote.test>\r\nBDAT ${MESSAGE.length} LAST\r\n${MESSAGE}`,
    );
    const replies = await c.replies(4);
    assert.equal(replies[3]?.code, 250, replies[3]?.raw);
    c.close();
    const id = /queued as ([0-9A-Z]+)/.exec(replies[3]?.lines[0] ?? '')?.[1] ?? '';
    const state = (): Promise<EntryState | undefined> => barge.server.spool.readState<EntryState>(id);
    await eventually(
      async () => ((await state())?.rcpts.every((r) => r.nextAttempt !== undefined) === true ? true : undefined),
      10_000,
      'first deferral',
    );

    acceptA = true;
    // Eight ETRN-style rescans at a time, back to back, while the runner delivers a@ and writes its state.
    const until = Date.now() + 2500;
    const loops = Array.from({ length: 8 }, async () => {
      while (Date.now() < until) await barge.server.runner.scan('remote.test').catch(() => undefined);
    });
    await Promise.all(loops);
    await barge.server.runner.idle();
    await barge.server.runner.scan('remote.test');
    await barge.server.runner.idle();
    const deliveredA = peer.received.filter((m) => m.rcpts.includes('a@remote.test')).length;
    assert.equal(deliveredA, 1, `a@remote.test was sent ${deliveredA} times`);
    assert.equal((await state())?.rcpts.find((r) => r.address === 'a@remote.test')?.status, 'delivered');
  } finally {
    await barge.stop();
    await peer.close();
  }
});
