/** The command line: `barge queue list|show` read a server's queue; bad configuration exits 2. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { RawSmtp } from '../support/raw-client.js';
import { startBarge, tempDir } from '../support/barge.js';
import { run } from '../support/peers.js';

const BIN = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..', 'bin', 'barge.js');
const barge = (...args: string[]): ReturnType<typeof run> => run(process.execPath, [BIN, ...args]);

test('queue list and queue show describe a queued relay message', async () => {
  const server = await startBarge('[queue]\nhold = true');
  try {
    const c = await RawSmtp.connect(server.port);
    await c.reply();
    await c.command('EHLO cli.test');
    await c.send('MAIL FROM:<a@cli.test>\r\nRCPT TO:<x@remote.example>\r\nBDAT 13 LAST\r\nSubject: q\r\n\r\n');
    const replies = await c.replies(3);
    const id = /queued as ([0-9A-Z]+)/.exec(replies[2]?.lines[0] ?? '')?.[1];
    assert.ok(id !== undefined, replies[2]?.raw);
    c.close();
    const list = await barge('queue', 'list', '--data-dir', server.dataDir);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`^${id} .* 13 bytes {2}<a@cli\\.test> {2}BDAT/1$`, 'm'));
    assert.match(list.stdout, /x@remote\.example {2}relay {2}attempts 0/);
    assert.match(list.stdout, /^1 message\(s\) in the queue$/m);
    const show = await barge('queue', 'show', id, '--data-dir', server.dataDir);
    assert.equal(show.code, 0, show.stderr);
    const parsed = JSON.parse(show.stdout) as { envelope: { transaction: { from: string } } };
    assert.equal(parsed.envelope.transaction.from, 'a@cli.test');
    assert.equal((await barge('queue', 'show', 'NOSUCHID', '--data-dir', server.dataDir)).code, 1);
  } finally {
    await server.stop();
  }
});

test('a bad configuration file exits 2 and names the key and line', async () => {
  const file = join(await tempDir(), 'barge.toml');
  await writeFile(file, '[limits]\nmax_errors = 0\n');
  const r = await barge('serve', '--config', file);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /barge\.toml line 2: limits\.max_errors/);
  assert.equal((await barge('frobnicate')).code, 2);
  assert.equal((await barge('options', 'encode', '--without', 'CHUNKING,BINARYMIME')).stdout.trim(), '4551873');
});

test('barge send submits stdin to the running server (recipients from -t) and prints the queue id', async () => {
  const server = await startBarge();
  try {
    const message = 'Subject: sent\r\nTo: Bob <bob@localhost>\r\nCc: carol@localhost\r\n\r\nhello\r\n';
    const r = await run(process.execPath, [BIN, 'send', '-t', '--from', 'a@localhost', '--server', `127.0.0.1:${server.port}`], message);
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    assert.match(id, /^[0-9A-Z]+$/);
    const received = (await server.tracking()).find((e) => e.event === 'received');
    assert.ok(received?.event === 'received');
    assert.equal(received.id, id);
    assert.equal(received.method, 'BDAT');
    assert.deepEqual([...received.rcpts].sort(), ['bob@localhost', 'carol@localhost']);
  } finally {
    await server.stop();
  }
});

test('barge send --data-dir writes into the spool of a stopped server', async () => {
  const dir = await tempDir();
  const r = await run(process.execPath, [BIN, 'send', '--from', 'a@localhost', '--to', 'bob@remote.example', '--data-dir', dir], 'Subject: direct\r\n\r\nhi\r\n');
  assert.equal(r.code, 0, r.stderr);
  const id = r.stdout.trim();
  const list = await barge('queue', 'list', '--data-dir', dir);
  assert.match(list.stdout, new RegExp(`^${id} .*<a@localhost>`, 'm'));
  assert.match(list.stdout, /bob@remote\.example {2}relay/);
});
