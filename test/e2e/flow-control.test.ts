/**
 * A client that pipelines commands and never reads its replies: the server stops reading it once its
 * unsent replies pass a small bound, so its memory stays flat; the command timeout still ends such a
 * client and frees what it held; junk commands (NOOP, RSET, VRFY, ETRN, HELP) are limited per session.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { RawSmtp } from '../support/raw-client.js';
import { startBarge } from '../support/barge.js';
import { rssSampler, startBarge as startBargeProcess } from '../../bench/servers.js';

/** Writes `line` repeatedly without ever reading, until `total` octets or `ms` have passed; returns octets written. */
async function floodUnread(socket: Socket, line: string, total: number, ms: number): Promise<number> {
  const block = Buffer.from(line.repeat(Math.ceil(65_536 / line.length)));
  const deadline = Date.now() + ms;
  let sent = 0;
  socket.pause();
  while (sent < total && Date.now() < deadline && !socket.destroyed) {
    sent += block.length;
    if (!socket.write(block)) {
      const drained = await Promise.race([
        new Promise<boolean>((resolve) => socket.once('drain', () => resolve(true))),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()))),
      ]);
      if (!drained) break;
    }
  }
  return sent;
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1' }, () => resolve(s));
    s.once('error', reject);
  });
}

test('32 MiB of pipelined HELO lines never read: the server process stays within 150 MB of its start and still serves others', async () => {
  const server = await startBargeProcess(['--queue-only']);
  try {
    const warm = await RawSmtp.connect(server.port);
    await warm.reply();
    await warm.command('EHLO warm.test');
    warm.close();
    await new Promise((r) => setTimeout(r, 300));
    const before = await rssSampler(server.pid).stop();
    const sampler = rssSampler(server.pid);
    const flooder = await open(server.port);
    flooder.on('error', () => undefined);
    const sent = await floodUnread(flooder, 'HELO flood.test\r\n', 32 * 1024 * 1024, 8000);
    // Another client is served while the flooder is held.
    const other = await RawSmtp.connect(server.port);
    assert.equal((await other.reply()).code, 220);
    assert.equal((await other.command('EHLO other.test')).code, 250);
    other.close();
    const peak = await sampler.stop();
    flooder.destroy();
    // Without flow control the server reads all of it and queues ~200 MB of replies (RSS past 400 MB).
    // With it, what remains is the kernel's socket buffers' worth of commands and their garbage.
    const growth = (peak - before) / 1e6;
    assert.ok(growth < 150, `RSS grew ${growth.toFixed(1)} MB (from ${(before / 1e6).toFixed(0)} MB) after ${(sent / 2 ** 20).toFixed(1)} MiB sent`);
  } finally {
    await server.stop();
  }
});

test('the command timeout closes a client that never reads, though its replies are still unsent', async () => {
  // A short timeout here tests the mechanism; the default (5 minutes, RFC 5321 4.5.3.2.7) is the same code path.
  const barge = await startBarge('[limits]\ncommand_timeout = "2s"\n', { queueOnly: true });
  try {
    const flooder = await open(barge.port);
    flooder.on('error', () => undefined);
    const gone = new Promise<void>((resolve) => flooder.once('close', () => resolve()));
    await floodUnread(flooder, 'HELO flood.test\r\n', 64 * 1024 * 1024, 3000);
    const closed = await Promise.race([gone.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 15_000))]);
    flooder.destroy();
    assert.ok(closed, 'the server should have closed the connection');
  } finally {
    await barge.stop();
  }
});

test('the 101st junk command in a session gets 421 4.7.0 and the connection closes', async () => {
  const barge = await startBarge('', { queueOnly: true });
  try {
    const c = await RawSmtp.connect(barge.port);
    await c.reply();
    await c.command('EHLO client.test');
    await c.send('NOOP\r\n'.repeat(60) + 'RSET\r\nHELP\r\nVRFY bob\r\n'.repeat(20) + 'NOOP\r\n'.repeat(10));
    const replies = await c.replies(101);
    assert.ok(replies.slice(0, 100).every((r) => r.code !== 421), 'the first 100 are answered');
    assert.equal(replies[100]?.code, 421);
    assert.match(replies[100]?.lines[0] ?? '', /^4\.7\.0 /);
    await c.closed();
  } finally {
    await barge.stop();
  }
});
