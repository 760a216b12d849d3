/**
 * A client that pipelines commands and never reads its replies: the server stops reading it once its
 * unsent replies pass a small bound, so they cannot pile up in memory (the benchmark measures RSS); the command timeout still ends such a
 * client and frees what it held; junk commands (NOOP, RSET, VRFY, ETRN, HELP) are limited per session.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawSmtp } from '../support/raw-client.js';
import { startBarge } from '../support/barge.js';
import { VirtualClock } from '../support/virtual-clock.js';
import { floodUnread, openSocket as open } from '../../bench/unread.js';

// RCPT past max_recipients is answered 452 (not an error, not junk) for ever: only flow control bounds it.
const PREFIX = 'EHLO flood.test\r\nMAIL FROM:<flood@client.test>\r\n';
const RCPT = 'RCPT TO:<bob@localhost>\r\n';

test('32 MiB of pipelined RCPT lines never read: at most a few hundred KiB of replies wait in the server, and others are served', async () => {
  const barge = await startBarge('', { queueOnly: true });
  try {
    const flooder = await open(barge.port);
    flooder.on('error', () => undefined);
    let most = 0;
    const watch = setInterval(() => (most = Math.max(most, barge.server.replyBacklog())), 10);
    const sent = await floodUnread(flooder, RCPT, 32 * 1024 * 1024, 8000, () => false, PREFIX);
    // Another client is served while the flooder is held.
    const other = await RawSmtp.connect(barge.port);
    assert.equal((await other.reply()).code, 220);
    assert.equal((await other.command('EHLO other.test')).code, 250);
    other.close();
    await new Promise((r) => setTimeout(r, 1000));
    clearInterval(watch);
    most = Math.max(most, barge.server.replyBacklog());
    flooder.destroy();
    // Without flow control every reply is queued: tens of MB. With it, the bound (64 KiB) plus the
    // replies to one slice of input.
    assert.ok(most < 256 * 1024, `${(most / 1024).toFixed(0)} KiB of replies waited after ${(sent / 2 ** 20).toFixed(1)} MiB sent`);
  } finally {
    await barge.stop();
  }
});

test('the default command timeout (5 minutes) closes a client that never reads, though its replies are still unsent', async () => {
  // Virtual time runs the default timeout. The overshoot limit is lifted so that only the timeout can end this RCPT flood.
  const clock = new VirtualClock();
  const barge = await startBarge('[limits]\nmax_recipient_overshoot = 100000000\n', { queueOnly: true }, undefined, { clock: clock });
  try {
    const flooder = await open(barge.port);
    flooder.on('error', () => undefined);
    let closed = false;
    const gone = new Promise<void>((resolve) => flooder.once('close', () => resolve()));
    void gone.then(() => (closed = true));
    await floodUnread(flooder, RCPT, 64 * 1024 * 1024, 3000, () => false, PREFIX);
    // The session's last activity must be over before virtual time moves (on a busy machine the
    // server may still be answering what it read): wait until its unsent replies stop changing.
    for (let last = -1, same = 0; same < 5; ) {
      await new Promise((r) => setTimeout(r, 100));
      const now = barge.server.replyBacklog();
      same = now === last ? same + 1 : 0;
      last = now;
    }
    clock.advance(5 * 60_000 - 1000);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(closed, false, 'not closed before five minutes');
    clock.advance(1000);
    const ended = await Promise.race([gone.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 30_000))]);
    flooder.destroy();
    assert.ok(ended, 'the server should have closed the connection');
  } finally {
    await barge.stop();
  }
});

test('the 101st junk command (NOOP, RSET, VRFY, ETRN, HELP, HELO, EHLO) in a session gets 421 4.7.0 and the connection closes', async () => {
  const barge = await startBarge('', { queueOnly: true });
  try {
    const c = await RawSmtp.connect(barge.port);
    await c.reply();
    await c.command('EHLO client.test');
    await c.send('NOOP\r\n'.repeat(50) + 'RSET\r\nHELP\r\nVRFY bob\r\nEHLO again.test\r\n'.repeat(10) + 'NOOP\r\n'.repeat(20));
    // The first EHLO was the 1st junk command; 99 more are answered, the next gets 421.
    const replies = await c.replies(100);
    assert.ok(
      replies.slice(0, 99).every((r) => r.code !== 421),
      'the first 99 are answered',
    );
    assert.equal(replies[99]?.code, 421);
    assert.match(replies[99]?.lines[0] ?? '', /^4\.7\.0 /);
    await c.closed();
  } finally {
    await barge.stop();
  }
});
