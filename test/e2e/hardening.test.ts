/**
 * The last protocol and policy gaps, over real loopback sockets: a bare LF never splits a command
 * line, RSET takes no argument, repeated recipients are delivered once, address lengths are octets,
 * <Postmaster> is accepted from anyone, ETRN is for relay clients and rate limited, files are private.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { RawSmtp } from '../support/raw-client.js';
import { eventually, startBarge, type TestBarge } from '../support/barge.js';
import { dataPaths } from '../../src/config/paths.js';

async function greeted(barge: TestBarge): Promise<RawSmtp> {
  const c = await RawSmtp.connect(barge.port);
  assert.equal((await c.reply()).code, 220);
  assert.equal((await c.command('EHLO client.test')).code, 250);
  return c;
}

const status = (r: { code: number; lines: readonly string[] }): string => `${r.code} ${(r.lines.at(-1) ?? '').split(' ')[0] ?? ''}`;

test('a bare LF inside a command line is not a line end: MAIL ...\\nRCPT ... is refused whole with 500 5.5.2', async () => {
  const barge = await startBarge('', { queueOnly: true });
  try {
    const c = await greeted(barge);
    await c.send('MAIL FROM:<a@client.test>\nRCPT TO:<bob@localhost>\r\n');
    assert.equal(status(await c.reply()), '500 5.5.2');
    assert.equal(status(await c.command('RCPT TO:<bob@localhost>')), '503 5.5.1', 'the MAIL was not executed');
    assert.equal(status(await c.command('RSET now')), '501 5.5.4', 'RSET takes no argument');
    assert.equal(status(await c.command('RSET')), '250 2.0.0');
    c.close();
  } finally {
    await barge.stop();
  }
});

test('the same recipient five times: five 250s, one Maildir copy', async () => {
  const barge = await startBarge();
  try {
    const c = await greeted(barge);
    const rcpts = ['bob@localhost', 'bob@localhost', 'Bob@LOCALHOST', 'bob@localhost', 'bob@localhost'];
    await c.send(`MAIL FROM:<a@client.test>\r\n${rcpts.map((r) => `RCPT TO:<${r}>\r\n`).join('')}DATA\r\n`);
    const replies = await c.replies(7);
    assert.deepEqual(
      replies.map((r) => r.code),
      [250, 250, 250, 250, 250, 250, 354],
    );
    assert.equal((await c.command('Subject: once\r\n\r\nhello\r\n.')).code, 250);
    c.close();
    await eventually(async () => ((await barge.tracking()).some((e) => e.event === 'completed') ? true : undefined), 10_000, 'delivery');
    assert.equal((await barge.mailbox('bob@localhost')).length, 1);
  } finally {
    await barge.stop();
  }
});

test('lengths are octets: a 100-character CJK local part (300 octets) is refused at RCPT; 64 octets pass', async () => {
  const barge = await startBarge('', { queueOnly: true });
  try {
    const c = await greeted(barge);
    assert.equal((await c.command('MAIL FROM:<a@client.test> SMTPUTF8')).code, 250);
    await c.send(Buffer.from(`RCPT TO:<${'\u90f5'.repeat(100)}@localhost>\r\n`, 'utf8'));
    assert.equal(status(await c.reply()), '501 5.1.3');
    await c.send(Buffer.from(`RCPT TO:<${'\u90f5'.repeat(21)}a@localhost>\r\n`, 'utf8'));
    assert.equal(status(await c.reply()), '250 2.1.5');
    c.close();
  } finally {
    await barge.stop();
  }
});

test('RCPT TO:<Postmaster> (any case, no domain) is accepted from a client that may not relay, and delivered to the primary domain', async () => {
  const barge = await startBarge('relay_networks = []\nlocal_domains = ["example.test", "other.test"]\n');
  try {
    const c = await greeted(barge);
    assert.equal((await c.command('MAIL FROM:<a@far.test>')).code, 250);
    assert.equal(status(await c.command('RCPT TO:<POSTMASTER>')), '250 2.1.5');
    assert.equal(status(await c.command('RCPT TO:<someone@far.test>')), '554 5.7.1');
    assert.equal((await c.command('DATA')).code, 354);
    assert.equal((await c.command('Subject: hi\r\n\r\nhello\r\n.')).code, 250);
    c.close();
    const delivered = await eventually(
      async () => {
        const box = await barge.mailbox('postmaster@example.test');
        return box.length > 0 ? box : undefined;
      },
      10_000,
      'delivery to the postmaster',
    );
    assert.match(delivered[0]?.toString('latin1') ?? '', /^Return-Path: <a@far\.test>\r\nDelivered-To: postmaster@example\.test\r\n/);
  } finally {
    await barge.stop();
  }
});

test('ETRN from outside the relay networks gets 458 4.7.1; from inside, one run per node per interval (458 4.7.0)', async () => {
  const closed = await startBarge('relay_networks = []\n', { queueOnly: true });
  try {
    const c = await greeted(closed);
    assert.equal(status(await c.command('ETRN example.test')), '458 4.7.1');
    c.close();
  } finally {
    await closed.stop();
  }
  const open = await startBarge('', { queueOnly: true });
  try {
    const c = await greeted(open);
    assert.equal(status(await c.command('ETRN example.test')), '250 2.0.0');
    assert.equal(status(await c.command('ETRN example.test')), '458 4.7.0');
    assert.equal(status(await c.command('ETRN other.test')), '250 2.0.0');
    const d = await greeted(open);
    assert.equal(status(await d.command('ETRN EXAMPLE.test')), '458 4.7.0', 'the interval holds across sessions');
    c.close();
    d.close();
  } finally {
    await open.stop();
  }
});

async function modeOf(path: string): Promise<string> {
  return ((await stat(path)).mode & 0o777).toString(8);
}

test('files are private: spool and Maildir directories 0700, their files 0600, logs 0640', async () => {
  const barge = await startBarge('', { queueOnly: true });
  const paths = dataPaths(barge.dataDir);
  try {
    const c = await greeted(barge);
    await c.send('MAIL FROM:<a@client.test>\r\nRCPT TO:<bob@localhost>\r\nDATA\r\n');
    await c.replies(3);
    assert.equal((await c.command('Subject: modes\r\n\r\nhello\r\n.')).code, 250);
    c.close();
    for (const dir of ['', 'queue', 'incoming', 'log']) assert.equal(await modeOf(join(paths.spool, dir)), '700', `spool/${dir}`);
    assert.equal((await barge.server.spool.list()).length, 1);
    const segments = await readdir(join(paths.spool, 'log'));
    assert.ok(segments.length > 0);
    for (const s of segments) assert.equal(await modeOf(join(paths.spool, 'log', s)), '600', `segment ${s} holding the queued message`);
    await barge.server.flushLogs();
    const logDir = join(paths.log, 'SMTPSVC1');
    const [w3c] = await readdir(logDir);
    assert.ok(w3c !== undefined);
    assert.equal(await modeOf(join(logDir, w3c)), '640', 'protocol log');
    const track = (await readdir(paths.tracking)).find((n) => n.endsWith('.jsonl'));
    assert.ok(track !== undefined);
    assert.equal(await modeOf(join(paths.tracking, track)), '640', 'tracking log');
    // Its index names queue ids, Message-IDs and recipients too.
    const index = await readdir(join(paths.tracking, 'index'));
    assert.ok(index.length > 0);
    for (const f of index) assert.equal(await modeOf(join(paths.tracking, 'index', f)), '640', `tracking index ${f}`);
  } finally {
    await barge.stop();
  }
  const delivering = await startBarge();
  try {
    const c = await greeted(delivering);
    await c.send('MAIL FROM:<a@client.test>\r\nRCPT TO:<carol@localhost>\r\nDATA\r\n');
    await c.replies(3);
    assert.equal((await c.command('Subject: modes\r\n\r\nhello\r\n.')).code, 250);
    c.close();
    const box = join(dataPaths(delivering.dataDir).mail, 'localhost', 'carol');
    const [name] = await eventually(
      async () => {
        const names = await readdir(join(box, 'new')).catch(() => []);
        return names.length > 0 ? names : undefined;
      },
      10_000,
      'Maildir delivery',
    );
    assert.ok(name !== undefined);
    for (const dir of ['', 'new', 'cur', 'tmp']) assert.equal(await modeOf(join(box, dir)), '700', `Maildir ${dir}`);
    assert.equal(await modeOf(join(box, 'new', name)), '600', 'Maildir message');
    await delivering.server.runner.idle();
    // Delivery state and DONE records are log records: the segments and the lock stay private.
    const spool = dataPaths(delivering.dataDir).spool;
    for (const f of await readdir(join(spool, 'log'))) assert.equal(await modeOf(join(spool, 'log', f)), '600', `segment ${f}`);
    assert.equal(await modeOf(join(spool, 'lock')), '600', 'spool lock');
  } finally {
    await delivering.stop();
  }
});
