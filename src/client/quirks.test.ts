/** The quirk store on a real file: keys and names, clearing, a re-read during a write, health round-trips. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tempDir } from '../../test/support/barge.js';
import { QuirkStore, quirksPath } from './quirks.js';

const HOUR = 3_600_000;
const hop = (host: string, port: number, name: string) => ({ host, port, name });

test('a quirk is keyed by the address connected to and records the MX name it was reached by', async () => {
  const dir = await tempDir();
  const store = await QuirkStore.open(quirksPath(dir));
  await store.remember(hop('192.0.2.7', 25, 'mx.partner.example'), 'no-bdat', 'reset after BDAT', HOUR);
  await store.remember(hop('2001:db8::7', 25, 'mx.partner.example'), 'no-tls', 'handshake failed', HOUR);
  assert.equal(store.get(hop('192.0.2.7', 25, 'mx.partner.example'), 'no-bdat')?.reason, 'reset after BDAT');
  // Another name for the same address is the same path; another address of the same name is not.
  assert.ok(store.get(hop('192.0.2.7', 25, 'other.example'), 'no-bdat') !== undefined);
  assert.equal(store.get(hop('192.0.2.8', 25, 'mx.partner.example'), 'no-bdat'), undefined);
  assert.ok(store.get('192.0.2.7:25', 'no-bdat') !== undefined);
  const saved = JSON.parse(await readFile(quirksPath(dir), 'utf8')) as Array<Record<string, string>>;
  assert.deepEqual(
    saved.map((q) => [q.destination, q.name]),
    [
      ['192.0.2.7:25', 'mx.partner.example'],
      ['[2001:db8::7]:25', 'mx.partner.example'],
    ],
  );
  assert.equal((await stat(quirksPath(dir))).mode & 0o777, 0o600);
});

test('clearing by the MX name forgets every address learnt under it; by address, that address only', async () => {
  const dir = await tempDir();
  const store = await QuirkStore.open(quirksPath(dir));
  const fill = async (): Promise<void> => {
    await store.remember(hop('192.0.2.7', 25, 'mx.partner.example'), 'no-bdat', 'r', HOUR);
    await store.remember(hop('2001:db8::7', 25, 'mx.partner.example'), 'no-bdat', 'r', HOUR);
    await store.remember(hop('192.0.2.9', 2525, 'mx.partner.example'), 'no-bdat', 'r', HOUR);
    await store.remember(hop('198.51.100.1', 25, 'mx.other.example'), 'no-bdat', 'r', HOUR);
  };
  await fill();
  assert.equal(await store.clear('mx.partner.example:25'), 2);
  assert.deepEqual(
    store
      .list()
      .map((q) => q.destination)
      .sort(),
    ['192.0.2.9:2525', '198.51.100.1:25'],
  );
  assert.equal(await store.clear('MX.Partner.Example'), 1, 'a name without a port clears every port');
  await fill();
  assert.equal(await store.clear('[2001:db8::7]:25'), 1);
  assert.equal(await store.clear('2001:db8::7'), 0);
  assert.equal(await store.clear('192.0.2.7'), 1);
  assert.equal(await store.clear('mx.unknown.example'), 0);
  assert.equal(await store.clear(), 2);
});

test('a file written before names were kept still loads, and its entries clear by address', async () => {
  const dir = await tempDir();
  const until = new Date(Date.now() + HOUR).toISOString();
  await writeFile(
    join(dir, 'quirks.json'),
    JSON.stringify([{ destination: '192.0.2.7:25', kind: 'no-bdat', reason: 'old', since: until, until }]),
  );
  const store = await QuirkStore.open(quirksPath(dir));
  assert.equal(store.get('192.0.2.7:25', 'no-bdat')?.reason, 'old');
  assert.equal(await store.clear('mx.partner.example'), 0);
  assert.equal(await store.clear('192.0.2.7:25'), 1);
});

test('a re-read while a quirk is being written keeps it (concurrent deliveries learn it once)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'barge-quirks-'));
  try {
    const store = await QuirkStore.open(quirksPath(dir));
    const writing = store.remember('192.0.2.7:25', 'no-bdat', 'BDAT is dropped on this path', 60_000);
    await store.refresh();
    assert.equal(store.get('192.0.2.7:25', 'no-bdat')?.reason, 'BDAT is dropped on this path');
    await writing;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a re-read that began before the first quirk was learnt (no file yet) does not forget it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'barge-quirks-'));
  try {
    const store = await QuirkStore.open(quirksPath(dir));
    // The re-read finds no file (ENOENT) while the first quirk is learnt: it must not empty the store.
    const reading = store.refresh();
    const writing = store.remember('192.0.2.7:25', 'no-bdat', 'EHLO keywords masked', 60_000);
    await reading;
    assert.equal(store.get('192.0.2.7:25', 'no-bdat')?.reason, 'EHLO keywords masked');
    await writing;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('bdat-ok keeps the sessions it was seen on; forget removes one kind only', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'barge-quirks-'));
  try {
    const store = await QuirkStore.open(quirksPath(dir));
    await store.remember(
      '192.0.2.7:25',
      'bdat-ok',
      'a non-final BDAT chunk was answered in 3 ms on a reused session',
      60_000,
      'reused-session',
    );
    await store.remember('192.0.2.7:25', 'big-chunks', 'slow', 60_000);
    const again = await QuirkStore.open(quirksPath(dir));
    assert.equal(again.get('192.0.2.7:25', 'bdat-ok')?.health, 'reused-session');
    await again.forget('192.0.2.7:25', 'bdat-ok');
    assert.deepEqual(
      (await QuirkStore.open(quirksPath(dir))).list().map((q) => q.kind),
      ['big-chunks'],
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a re-read that starts before the first quirk is written does not forget it', async () => {
  const dir = await tempDir();
  const store = await QuirkStore.open(quirksPath(dir));
  // Two deliveries at once: one re-reads the (still missing) file while the other learns.
  const reading = store.refresh();
  const learning = store.remember(hop('192.0.2.9', 25, 'mx.masked.example'), 'no-bdat', 'EHLO keywords masked', HOUR);
  await Promise.all([reading, learning]);
  assert.equal(store.get(hop('192.0.2.9', 25, 'mx.masked.example'), 'no-bdat')?.reason, 'EHLO keywords masked');
  await rm(dir, { recursive: true, force: true });
});
