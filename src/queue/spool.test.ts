/** The spool on a real filesystem: byte-exact round trips, discard, crash leftovers, concurrency, state. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { spawn } from 'node:child_process';
import fc from 'fast-check';
import { Spool, type SpoolEnvelope, type SpoolWriter } from './spool.js';
import { unwritten } from '../fs/fd-file.js';

let root = '';
let n = 0;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'barge-spool-'));
});
/** Every spool a test opened, closed at the end (a test that simulates a crash leaves its spool open). */
const opened: Spool[] = [];
after(async () => {
  await Promise.allSettled(opened.map((s) => s.close()));
  await rm(root, { recursive: true, force: true });
});
async function open(dir: string, options?: Parameters<typeof Spool.open>[1]): Promise<Spool> {
  const spool = await Spool.open(dir, options);
  opened.push(spool);
  return spool;
}
/** A fresh spool directory per test. */
const fresh = async (): Promise<Spool> => open(join(root, `s${++n}`));

function envelope(id: string, extra: Partial<SpoolEnvelope> = {}): Omit<SpoolEnvelope, 'messageLength'> {
  return {
    id,
    receivedAt: '2026-01-02T03:04:05.000Z',
    listener: 'default',
    clientIp: '192.0.2.1',
    helo: 'client.test',
    protocol: 'ESMTP',
    method: 'BDAT',
    chunks: 2,
    size: 0,
    transaction: {
      from: 'a@c.test',
      body: 'BINARYMIME',
      smtputf8: false,
      rcpts: [{ address: 'x@mx.test', local: true, notify: ['FAILURE'] }],
    },
    ...extra,
  };
}

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

async function store(spool: Spool, id: string, pieces: readonly Buffer[]): Promise<SpoolEnvelope> {
  const w = spool.begin(id);
  for (const p of pieces) w.write(p);
  return spool.commit(w, envelope(id, { size: Buffer.concat(pieces).length }));
}

/** Content that looks like the envelope trailer, plus every octet value. */
const TRICKY = Buffer.concat([
  Buffer.from('\nBARGE-ENVELOPE 0000000002\n{}\n'),
  Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
  Buffer.from('\r\n.\r\n\0\nBARGE-ENVELOPE 0000000099\n'),
]);

test('begin, write, commit: listed, and the envelope and message read back byte-exact', async () => {
  const spool = await fresh();
  const pieces = [TRICKY.subarray(0, 7), TRICKY.subarray(7, 300), Buffer.alloc(0), TRICKY.subarray(300)];
  const committed = await store(spool, 'M1', pieces);
  assert.equal(committed.messageLength, TRICKY.length);
  assert.deepEqual(await spool.list(), ['M1']);
  assert.deepEqual(await readdir(spool.incomingDir), []);
  const read = await spool.readEnvelope('M1');
  assert.deepEqual(read, committed);
  assert.deepEqual(read.transaction.rcpts[0]?.notify, ['FAILURE']);
  assert.ok((await collect(spool.messageStream('M1', read))).equals(TRICKY));
});

test('a large message streams back intact, and a UTF-8 envelope survives', async () => {
  const spool = await fresh();
  const big = Buffer.alloc(3 * 1024 * 1024 + 17);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff;
  const w = spool.begin('BIG');
  for (let i = 0; i < big.length; i += 65536) w.write(big.subarray(i, i + 65536));
  const env = envelope('BIG', {
    helo: 'h\u00f6st',
    transaction: { from: 'j\u00f6rg@c.test', body: '8BITMIME', smtputf8: true, rcpts: [] },
  });
  await spool.commit(w, env);
  const read = await spool.readEnvelope('BIG');
  assert.equal(read.transaction.from, 'j\u00f6rg@c.test');
  assert.equal(read.helo, 'h\u00f6st');
  assert.ok((await collect(spool.messageStream('BIG', read))).equals(big));
});

test('an empty message is stored and reads back empty', async () => {
  const spool = await fresh();
  const env = await store(spool, 'EMPTY', []);
  assert.equal(env.messageLength, 0);
  assert.equal((await collect(spool.messageStream('EMPTY', await spool.readEnvelope('EMPTY')))).length, 0);
});

test('discard leaves nothing behind, even right after begin', async () => {
  const spool = await fresh();
  const w = spool.begin('D1');
  w.write(Buffer.from('partial'));
  await new Promise((resolve) => setTimeout(resolve, 10));
  await w.discard();
  await spool.begin('D2').discard();
  const w3 = spool.begin('D3');
  w3.write(Buffer.alloc(1024 * 1024));
  await w3.discard();
  assert.deepEqual(await readdir(spool.incomingDir), []);
  assert.deepEqual(await spool.list(), []);
});

test('open() empties incoming/ (a crash leftover is never listed); a read-only open leaves it and the lock', async () => {
  const dir = join(root, 'crash');
  const first = await open(dir);
  await writeFile(join(first.incomingDir, 'PARTIAL'), 'half a mess');
  await store(first, 'DONE', [Buffer.from('whole')]);
  const reader = await open(dir, { readOnly: true });
  assert.deepEqual(await readdir(reader.incomingDir), ['PARTIAL']);
  assert.deepEqual(await reader.list(), ['DONE']);
  await reader.close();
  assert.equal((await readFile(join(dir, 'lock'), 'utf8')).trim(), String(process.pid), 'a reader leaves the writer its lock');
  const restarted = await open(dir);
  assert.deepEqual(await readdir(restarted.incomingDir), []);
  assert.deepEqual(await restarted.list(), ['DONE']);
  assert.equal(restarted.recovery.messages, 1);
});

test('one writer per spool: a live Node.js holder refuses a second, a dead or foreign pid in the lock does not', async () => {
  const dir = join(root, 'lock');
  await (await open(dir)).close();
  const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
  const foreign = spawn('sleep', ['30']);
  try {
    await writeFile(join(dir, 'lock'), `${holder.pid ?? 0}\n`);
    await assert.rejects(open(dir), /in use by process/);
    assert.ok((await open(dir, { readOnly: true })).size === 0, 'a reader still opens it');
    await writeFile(join(dir, 'lock'), `${foreign.pid ?? 0}\n`);
    await (await open(dir)).close();
    await writeFile(join(dir, 'lock'), '999999999\n');
    await (await open(dir)).close();
  } finally {
    holder.kill();
    foreign.kill();
  }
});

test('a message past the in-memory limit spills to a file of its own; a small one never does', async () => {
  const dir = join(root, 'spill');
  const spool = await open(dir);
  const big = Buffer.alloc(700 * 1024, 0x41);
  big.write('last line\r\n', big.length - 11);
  await store(spool, 'SMALL', [Buffer.from('tiny')]);
  await store(spool, 'LARGE', [big.subarray(0, 300_000), big.subarray(300_000)]);
  assert.deepEqual(await readdir(spool.queueDir), ['LARGE.msg']);
  assert.equal((await stat(join(spool.queueDir, 'LARGE.msg'))).mode & 0o777, 0o600, 'private like the segments');
  const again = await open(dir);
  assert.ok((await collect(again.messageStream('LARGE', await again.readEnvelope('LARGE')))).equals(big));
  assert.equal((await collect(again.messageStream('SMALL', await again.readEnvelope('SMALL')))).toString(), 'tiny');
  await again.remove('LARGE');
  assert.deepEqual(await readdir(spool.queueDir), []);
  assert.deepEqual(await (await open(dir)).list(), ['SMALL']);
});

test('a large entry rewritten (signing) gets its new octets; a replacement a crash left half-done is finished or dropped at start', async () => {
  const dir = join(root, 'rewrite');
  const spool = await open(dir);
  const old = Buffer.alloc(400 * 1024, 0x6f);
  await store(spool, 'RW', [old]);
  const signed = Buffer.concat([Buffer.from('DKIM-Signature: v=1\r\n'), old]);
  await spool.rewrite('RW', Readable.from([signed]), envelope('RW', { size: old.length }));
  assert.ok((await collect(spool.messageStream('RW', await spool.readEnvelope('RW')))).equals(signed));
  assert.deepEqual(await readdir(spool.queueDir), ['RW.msg']);
  // Left by a crash after the new record was durable: same length as the record says, so it is the new file.
  const newer = Buffer.alloc(signed.length, 0x6e);
  await writeFile(join(spool.queueDir, 'RW.msg.new'), newer);
  const again = await open(dir);
  assert.ok((await collect(again.messageStream('RW', await again.readEnvelope('RW')))).equals(newer));
  // Left by a crash before the record: another length, so it is dropped and the entry keeps its octets.
  await writeFile(join(spool.queueDir, 'RW.msg.new'), Buffer.alloc(10));
  const third = await open(dir);
  assert.ok((await collect(third.messageStream('RW', await third.readEnvelope('RW')))).equals(newer));
  assert.deepEqual(await readdir(spool.queueDir), ['RW.msg']);
});

test('an entry of the file-per-message spool is taken into the log at start, with its state', async () => {
  const dir = join(root, 'legacy');
  const env = { ...envelope('0OLD'), size: 5, messageLength: 5 };
  const json = Buffer.from(JSON.stringify(env));
  const trailer = `\n${json.toString()}\nBARGE-ENVELOPE ${String(json.length).padStart(10, '0')}\n`;
  await (await open(dir)).close();
  await writeFile(join(dir, 'queue', '0OLD'), `hello${trailer}`);
  await mkdir(join(dir, 'state'), { recursive: true });
  await writeFile(join(dir, 'state', '0OLD.json'), '{"held":true}');
  const spool = await open(dir);
  assert.deepEqual(await spool.list(), ['0OLD']);
  assert.deepEqual(await spool.readState('0OLD'), { held: true });
  assert.equal((await collect(spool.messageStream('0OLD', await spool.readEnvelope('0OLD')))).toString(), 'hello');
  assert.deepEqual(await readdir(join(dir, 'state')), []);
});

test('list() is sorted', async () => {
  const spool = await fresh();
  for (const id of ['0C', '0A', '0B']) await store(spool, id, [Buffer.from(id)]);
  assert.deepEqual(await spool.list(), ['0A', '0B', '0C']);
});

test('many concurrent commits all land, each with its own bytes (shared directory fsyncs)', async () => {
  const spool = await fresh();
  const ids = Array.from({ length: 60 }, (_, i) => `C${String(i).padStart(3, '0')}`);
  const writers: SpoolWriter[] = ids.map((id) => spool.begin(id));
  writers.forEach((w, i) => {
    w.write(Buffer.from(`message ${i}\r\n`));
    w.write(Buffer.alloc(i * 100, i));
  });
  const envelopes = await Promise.all(writers.map((w) => spool.commit(w, envelope(w.id))));
  assert.deepEqual(
    envelopes.map((e) => e.id),
    ids,
  );
  assert.deepEqual(await spool.list(), ids);
  for (const [i, id] of ids.entries()) {
    const body = await collect(spool.messageStream(id, await spool.readEnvelope(id)));
    assert.ok(body.equals(Buffer.concat([Buffer.from(`message ${i}\r\n`), Buffer.alloc(i * 100, i)])), id);
  }
  assert.deepEqual(await readdir(spool.incomingDir), []);
});

test('discards interleaved with commits never touch another message (no descriptor is closed twice)', async () => {
  const spool = await fresh();
  const kept: Array<Promise<SpoolEnvelope>> = [];
  const dropped: Array<Promise<void>> = [];
  for (let i = 0; i < 40; i++) {
    const w = spool.begin(`I${String(i).padStart(2, '0')}`);
    w.write(Buffer.alloc(100 * 1024, i));
    if (i % 2 === 1) dropped.push(w.discard());
    else kept.push(new Promise((resolve) => setTimeout(resolve, i)).then(() => spool.commit(w, envelope(w.id))));
  }
  await Promise.all([...kept, ...dropped]);
  const ids = await spool.list();
  assert.equal(ids.length, 20);
  for (const id of ids) {
    const body = await collect(spool.messageStream(id, await spool.readEnvelope(id)));
    assert.ok(body.equals(Buffer.alloc(100 * 1024, Number(id.slice(1)))), id);
  }
  assert.deepEqual(await readdir(spool.incomingDir), []);
});

test('write() reports backpressure and onDrain() calls back', async () => {
  const spool = await fresh();
  const w = spool.begin('BP');
  let full = false;
  for (let i = 0; i < 64 && !full; i++) full = !w.write(Buffer.alloc(64 * 1024, i));
  assert.ok(full, 'write() returned false');
  await new Promise<void>((resolve) => w.onDrain(resolve));
  await w.discard();
});

test('a large message written in small pieces (more than one writev takes), waiting on back-pressure, reads back intact', async () => {
  const spool = await fresh();
  const big = Buffer.alloc(2 * 1024 * 1024 + 5);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff;
  const w = spool.begin('SMALLPIECES');
  let waits = 0;
  for (let i = 0, n = 1; i < big.length; i += n, n = (n * 31 + 7) % 700) {
    if (!w.write(big.subarray(i, i + n))) {
      waits++;
      await new Promise<void>((resolve) => w.onDrain(resolve));
    }
  }
  assert.ok(waits > 0, 'the writer asked the caller to wait');
  const read = await spool.commit(w, envelope('SMALLPIECES'));
  assert.ok((await collect(spool.messageStream('SMALLPIECES', read))).equals(big));
});

test('a message streamed past several background fdatasyncs commits intact; one discarded meanwhile leaves nothing', async () => {
  const spool = await fresh();
  const piece = Buffer.alloc(64 * 1024);
  for (let i = 0; i < piece.length; i++) piece[i] = (i * 31) & 0xff;
  const kept = spool.begin('SYNCED');
  const dropped = spool.begin('DROPPED');
  for (let i = 0; i < 400; i++) {
    // 25 MiB each: over the background sync interval three times.
    for (const w of [kept, dropped]) if (!w.write(piece)) await new Promise<void>((resolve) => w.onDrain(resolve));
  }
  await dropped.discard();
  const read = await spool.commit(kept, envelope('SYNCED'));
  assert.equal(read.messageLength, 400 * piece.length);
  const back = await collect(spool.messageStream('SYNCED', read));
  assert.ok(
    back.subarray(0, piece.length).equals(piece) && back.subarray(-piece.length).equals(piece) && back.length === 400 * piece.length,
  );
  assert.deepEqual(await readdir(spool.incomingDir), []);
  assert.deepEqual(await spool.list(), ['SYNCED']);
});

test('property: after a short writev the views left are exactly the octets not yet written', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 9 }), { maxLength: 8 }), fc.nat(), (arrays, n) => {
      const views = arrays.map((a) => Buffer.from(a));
      const whole = Buffer.concat(views);
      const written = n % (whole.length + 1);
      const left = unwritten(views, written);
      assert.ok(Buffer.concat(left).equals(whole.subarray(written)));
    }),
  );
});

test('readEnvelope of an unknown entry rejects with ENOENT (the runner takes it as finished)', async () => {
  const spool = await fresh();
  await assert.rejects(spool.readEnvelope('NONE'), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
});

test('delivery state: absent, written, replaced durably (the latest wins), removed with the entry', async () => {
  const spool = await fresh();
  await store(spool, 'S1', [Buffer.from('m')]);
  assert.equal(await spool.readState('S1'), undefined);
  await spool.writeState('S1', { attempts: 1, pending: ['x@mx.test'] });
  await spool.writeState('S1', { attempts: 2, pending: [] });
  assert.deepEqual(await spool.readState<{ attempts: number; pending: string[] }>('S1'), { attempts: 2, pending: [] });
  const reopened = await open(spool.queueDir.replace(/queue$/, ''), { readOnly: true });
  assert.deepEqual(await reopened.readState('S1'), { attempts: 2, pending: [] }, 'the latest state record wins after a restart');
  await spool.remove('S1');
  assert.deepEqual(await spool.list(), []);
  assert.equal(await spool.readState('S1'), undefined);
  await spool.remove('S1');
  await spool.remove('NEVER');
});
