/**
 * Clients that pipeline RCPT past max_recipients (each answered 452, which is neither an error nor
 * junk) and never read: every command is logged, and the protocol log is the one queue left that a
 * client can fill as fast as the server's CPU allows. Above half its bound the log makes connections
 * wait (as unread replies do), so it neither grows towards its bound nor drops lines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBarge } from '../support/barge.js';
import { floodUnread, openSocket } from '../../bench/unread.js';
import { W3cLog } from '../../src/log/w3c.js';
import { DEFAULT_MAX_BUFFER_BYTES } from '../../src/log/appender.js';

const PREFIX = 'EHLO flood.test\r\nMAIL FROM:<flood@client.test>\r\n';
const RCPT = 'RCPT TO:<bob@localhost>\r\n';

test('an unread RCPT flood from 8 connections keeps the protocol log under half its buffer bound and loses no line', async () => {
  // Every line the server queues goes through write(); the most ever waiting is read right after it.
  const original = Object.getOwnPropertyDescriptor(W3cLog.prototype, 'write');
  const write = W3cLog.prototype.write;
  let most = 0;
  let lines = 0;
  W3cLog.prototype.write = function (this: W3cLog, ...args: Parameters<W3cLog['write']>): void {
    write.apply(this, args);
    lines++;
    most = Math.max(most, this.bufferedBytes);
  };
  // The overshoot limit would end these sessions after about 1,100 RCPTs each; lifted, only the log's
  // own bound keeps the flood in check.
  const barge = await startBarge('[limits]\nmax_recipient_overshoot = 100000000\n', { queueOnly: true });
  try {
    const flooders = await Promise.all(Array.from({ length: 8 }, () => openSocket(barge.port)));
    for (const f of flooders) f.on('error', () => undefined);
    await Promise.all(flooders.map((f) => floodUnread(f, RCPT, 16 * 2 ** 20, 4000, () => false, PREFIX)));
    for (const f of flooders) f.destroy();
    const log = await barge.protocolLog();
    assert.ok(lines > 10_000, `the flood was logged (${lines} lines)`);
    assert.doesNotMatch(log, /#Remark: \d+ lines dropped/);
    // Connections are held once more than half the bound waits; each may finish the slice of input it
    // was answering (a few KiB of commands), hence the margin.
    const limit = DEFAULT_MAX_BUFFER_BYTES / 2 + 8 * 64 * 1024;
    assert.ok(most <= limit, `${(most / 2 ** 20).toFixed(2)} MiB of log lines waited (limit ${(limit / 2 ** 20).toFixed(2)} MiB)`);
  } finally {
    if (original !== undefined) Object.defineProperty(W3cLog.prototype, 'write', original);
    await barge.stop();
  }
});
