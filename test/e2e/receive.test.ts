/** Barge receives over real loopback sockets: BDAT, DATA, limits, logs and Maildir delivery. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RawSmtp } from '../support/raw-client.js';
import { eventually, startBarge, stripBargeHeaders } from '../support/barge.js';
import { parseW3cLog } from '../../src/log/w3c.js';
import { VirtualClock } from '../support/virtual-clock.js';

const ehlo = async (c: RawSmtp): Promise<string[]> => {
  assert.equal((await c.reply()).code, 220);
  const r = await c.command('EHLO client.test');
  assert.equal(r.code, 250);
  return r.lines.slice(1);
};

test('a pipelined BDAT transaction with binary chunks lands byte-exact in Maildir', async () => {
  const barge = await startBarge();
  try {
    const c = await RawSmtp.connect(barge.port);
    const keywords = await ehlo(c);
    for (const k of ['PIPELINING', 'CHUNKING', 'BINARYMIME', '8BITMIME', 'DSN', 'ENHANCEDSTATUSCODES', 'SMTPUTF8', 'ETRN', 'HELP'])
      assert.ok(keywords.includes(k), k);
    assert.ok(keywords.some((k) => /^SIZE \d+$/.test(k)));
    const head = Buffer.from('Subject: binary\r\nContent-Type: application/octet-stream\r\n\r\n');
    const binary = Buffer.concat([randomBytes(70_000), Buffer.from('\r\n.\r\nQUIT\r\n\0\r\r\n\n')]);
    const message = Buffer.concat([head, binary]);
    const first = message.subarray(0, 1000);
    const second = message.subarray(1000);
    // Everything in one write: the commands, both chunks, and QUIT.
    await c.send(
      Buffer.concat([
        Buffer.from('MAIL FROM:<a@client.test> BODY=BINARYMIME\r\nRCPT TO:<bob@localhost>\r\n'),
        Buffer.from(`BDAT ${first.length}\r\n`),
        first,
        Buffer.from(`BDAT ${second.length} LAST\r\n`),
        second,
        Buffer.from('QUIT\r\n'),
      ]),
    );
    const replies = await c.replies(5);
    assert.deepEqual(
      replies.map((r) => r.code),
      [250, 250, 250, 250, 221],
    );
    assert.match(replies[2]?.lines[0] ?? '', /^2\.0\.0 1000 octets received/);
    assert.match(replies[3]?.lines[0] ?? '', /^2\.0\.0 .*queued as [0-9A-Z]+/);
    const [delivered] = await eventually(
      async () => {
        const box = await barge.mailbox('bob@localhost');
        return box.length > 0 ? box : undefined;
      },
      10_000,
      'delivery',
    );
    assert.ok(delivered);
    assert.ok(stripBargeHeaders(delivered).equals(message), 'message body differs');
    assert.match(delivered.toString('latin1'), /with ESMTP \(BDAT\) id /);
    const received = (await barge.tracking()).find((r) => r.event === 'received');
    assert.ok(received !== undefined && received.event === 'received');
    assert.equal(received.method, 'BDAT');
    assert.equal(received.chunks, 2);
    assert.equal(received.body, 'BINARYMIME');
    assert.equal(received.size, message.length);
    const log = parseW3cLog(await barge.protocolLog());
    assert.deepEqual(
      log.map((l) => l['cs-method']),
      ['EHLO', 'MAIL', 'RCPT', 'BDAT', 'BDAT', 'QUIT'],
    );
    assert.deepEqual(
      log.map((l) => l['sc-status']),
      ['250', '250', '250', '250', '250', '240'],
    );
  } finally {
    await barge.stop();
  }
});

test('replies to MAIL and RCPT pipelined with BDAT LAST go out with its reply, in one write (RFC 2920 3.2)', async () => {
  const barge = await startBarge();
  try {
    const c = await RawSmtp.connect(barge.port);
    await ehlo(c);
    for (let i = 0; i < 5; i++) {
      const message = Buffer.from(`Subject: together ${i}\r\n\r\nbody\r\n`);
      const readsBefore = c.reads;
      await c.send(
        Buffer.concat([Buffer.from(`MAIL FROM:<a@client.test>\r\nRCPT TO:<bob@localhost>\r\nBDAT ${message.length} LAST\r\n`), message]),
      );
      const replies = await c.replies(3);
      assert.deepEqual(
        replies.map((r) => r.code),
        [250, 250, 250],
      );
      // Written apart, the MAIL and RCPT replies would arrive while the message is still being made durable.
      assert.equal(c.reads - readsBefore, 1, `transaction ${i}: the three replies arrived in ${c.reads - readsBefore} reads`);
    }
    c.close();
  } finally {
    await barge.stop();
  }
});

test('refused BDAT chunks are consumed exactly and never parsed as commands', async () => {
  const barge = await startBarge();
  try {
    const c = await RawSmtp.connect(barge.port);
    await ehlo(c);
    const chunk = 'RSET\r\nMAIL FROM:<x@y>\r\n';
    await c.send(
      `BDAT ${chunk.length}\r\n${chunk}MAIL FROM:<a@client.test>\r\nRCPT TO:<nobody@elsewhere.example>\r\nBDAT ${chunk.length} LAST\r\n${chunk}NOOP\r\n`,
    );
    const codes = (await c.replies(5)).map((r) => r.code);
    // 503 (no MAIL), 250 MAIL, 250 relay from loopback is allowed, 250 chunk (whole message), NOOP 250
    assert.deepEqual(codes, [503, 250, 250, 250, 250]);
    c.close();
  } finally {
    await barge.stop();
  }
});

test('relaying is refused for clients outside the relay networks', async () => {
  const barge = await startBarge('relay_networks = ["192.0.2.0/24"]');
  try {
    const c = await RawSmtp.connect(barge.port);
    await ehlo(c);
    await c.command('MAIL FROM:<a@client.test>');
    const r = await c.command('RCPT TO:<someone@elsewhere.example>');
    assert.equal(r.code, 554);
    assert.match(r.lines[0] ?? '', /^5\.7\.1 /);
    const bdat = await c.command('BDAT 0 LAST');
    assert.equal(bdat.code, 554);
    c.close();
  } finally {
    await barge.stop();
  }
});

test('SMTP smuggling: a bare-LF end-of-data is not the end, and the message is refused', async () => {
  const barge = await startBarge();
  try {
    const c = await RawSmtp.connect(barge.port);
    await ehlo(c);
    await c.command('MAIL FROM:<a@client.test>');
    await c.command('RCPT TO:<bob@localhost>');
    assert.equal((await c.command('DATA')).code, 354);
    await c.send('Subject: x\r\n\r\nhello\n.\nMAIL FROM:<evil@client.test>\r\nRCPT TO:<bob@localhost>\r\nDATA\r\n\r\n.\r\n');
    const r = await c.reply();
    assert.equal(r.code, 550);
    assert.match(r.lines[0] ?? '', /^5\.6\.0 /);
    assert.equal((await c.command('NOOP')).code, 250, 'session still usable');
    c.close();
    await barge.server.runner.idle();
    assert.equal((await barge.mailbox('bob@localhost')).length, 0);
  } finally {
    await barge.stop();
  }
});

test('a message over the size limit gets 552 5.3.4 after it was read; nothing is kept', async () => {
  const barge = await startBarge('', { maxMessageSize: '10KB' });
  try {
    const c = await RawSmtp.connect(barge.port);
    await ehlo(c);
    assert.equal((await c.command('MAIL FROM:<a@client.test> SIZE=20000')).code, 552);
    await c.command('MAIL FROM:<a@client.test>');
    await c.command('RCPT TO:<bob@localhost>');
    const big = Buffer.alloc(20_000, 0x41);
    await c.send(Buffer.concat([Buffer.from(`BDAT ${big.length} LAST\r\n`), big, Buffer.from('NOOP\r\n')]));
    const [over, noop] = await c.replies(2);
    assert.equal(over?.code, 552);
    assert.match(over?.lines[0] ?? '', /^5\.3\.4 /);
    assert.equal(noop?.code, 250);
    c.close();
    assert.deepEqual(await barge.server.spool.list(), []);
  } finally {
    await barge.stop();
  }
});

test('a write error in the spool answers 452 4.3.1, never 250', async () => {
  const barge = await startBarge();
  try {
    // Replace the incoming directory by a file: a large message's own file fails to open.
    const { incomingDir, logDir } = barge.server.spool;
    await rm(incomingDir, { recursive: true });
    await writeFile(incomingDir, 'not a directory');
    const c = await RawSmtp.connect(barge.port);
    await ehlo(c);
    const large = 'x'.repeat(998);
    const body = `Subject: large\r\n\r\n${`${large}\r\n`.repeat(400)}`;
    for (const [what, content] of [
      ['a large message (its own file)', body],
      ['a small message (the segment log)', 'hello'],
    ] as const) {
      // Then the segment log's directory: the first segment cannot be created.
      if (content === 'hello') {
        await rm(logDir, { recursive: true });
        await writeFile(logDir, 'not a directory');
      }
      await c.command('MAIL FROM:<a@client.test>');
      await c.command('RCPT TO:<bob@localhost>');
      await c.send(`BDAT ${content.length} LAST\r\n${content}`);
      const r = await c.reply();
      assert.equal(r.code, 452, what);
      assert.match(r.lines[0] ?? '', /^4\.3\.1 /);
      assert.equal((await c.command('NOOP')).code, 250, 'session survives a storage failure');
    }
    c.close();
    assert.deepEqual(await barge.server.spool.list(), []);
  } finally {
    await barge.stop();
  }
});

test('connections beyond the per-IP limit get 421 4.7.0', async () => {
  const barge = await startBarge('[limits]\nmax_connections_per_ip = 2');
  try {
    const a = await RawSmtp.connect(barge.port);
    const b = await RawSmtp.connect(barge.port);
    assert.equal((await a.reply()).code, 220);
    assert.equal((await b.reply()).code, 220);
    const c = await RawSmtp.connect(barge.port);
    const r = await c.reply();
    assert.equal(r.code, 421);
    assert.match(r.lines[0] ?? '', /^4\.7\.0 /);
    await c.closed();
    a.close();
    b.close();
  } finally {
    await barge.stop();
  }
});

test('stopping the server answers 421 4.3.2 to open sessions and drops partial messages', async () => {
  const barge = await startBarge();
  const c = await RawSmtp.connect(barge.port);
  await ehlo(c);
  await c.command('MAIL FROM:<a@client.test>');
  await c.command('RCPT TO:<bob@localhost>');
  await c.send('BDAT 100 LAST\r\npartial');
  await new Promise((r) => setTimeout(r, 50));
  const stopped = barge.server.stop();
  const r = await c.reply();
  assert.equal(r.code, 421);
  assert.match(r.lines[0] ?? '', /^4\.3\.2 /);
  await c.closed();
  await stopped;
  assert.deepEqual(await barge.server.spool.list(), []);
  const { readdir } = await import('node:fs/promises');
  assert.deepEqual(await readdir(join(barge.dataDir, 'spool', 'incoming')), []);
  await barge.stop();
});

test('a client that closes mid-chunk leaves nothing in the queue or in incoming/', async () => {
  const barge = await startBarge();
  try {
    const c = await RawSmtp.connect(barge.port);
    await ehlo(c);
    await c.send('MAIL FROM:<a@client.test>\r\nRCPT TO:<bob@localhost>\r\nBDAT 100000 LAST\r\n');
    await c.replies(2);
    await c.send(Buffer.alloc(70_000, 0x61)); // more than one spool batch: a file exists on disk
    await new Promise((r) => setTimeout(r, 100));
    c.close();
    const { readdir } = await import('node:fs/promises');
    await eventually(
      async () => ((await readdir(barge.server.spool.incomingDir)).length === 0 ? true : undefined),
      5000,
      'incoming/ to be emptied',
    );
    assert.deepEqual(await barge.server.spool.list(), []);
    const rejected = (await barge.tracking()).find((e) => e.event === 'rejected');
    assert.ok(rejected?.event === 'rejected');
    assert.equal(rejected.method, 'BDAT');
  } finally {
    await barge.stop();
  }
});

test('an idle client is told 421 4.4.2 after the default command timeout (5 minutes), not before', async () => {
  // Virtual time: the default timeout runs, and the test does not wait five minutes for it.
  const clock = new VirtualClock();
  const barge = await startBarge('', {}, undefined, { clock: clock });
  try {
    const c = await RawSmtp.connect(barge.port);
    await ehlo(c);
    clock.advance(5 * 60_000 - 1000);
    await assert.rejects(c.reply(300), /no reply within/, 'nothing before five minutes of idleness');
    clock.advance(1000);
    const r = await c.reply(5000);
    assert.equal(r.code, 421);
    assert.match(r.lines[0] ?? '', /^4\.4\.2 /);
    await c.closed();
  } finally {
    await barge.stop();
  }
});
