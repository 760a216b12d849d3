/** Local Maildir delivery: tmp/ then new/, trace headers first, body byte-exact, safe folder names. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { deliverToMaildir, mailboxFolder } from './maildir.js';
import { MailboxRefused } from './maildir-path.js';
import { deliveryName } from './maildir-once.js';
import { clockAt } from '../../test/support/virtual-clock.js';

let root = '';
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'barge-maildir-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});
const NOW = clockAt(() => new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678)));

const BINARY = Buffer.concat([
  Buffer.from('Subject: bin\r\n\r\n'),
  Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
  Buffer.from('\r\n.\r\n\n.\n'),
]);

test('a message lands in new/ with Return-Path and Delivered-To first and the body byte-exact', async () => {
  const chunks = [BINARY.subarray(0, 5), BINARY.subarray(5, 100), BINARY.subarray(100)];
  const path = await deliverToMaildir(root, 'x@mx.test', 'a@c.test', Readable.from(chunks), 'mx.test', NOW);
  const box = mailboxFolder(root, 'x@mx.test');
  assert.equal(dirname(path), join(box, 'new'));
  assert.deepEqual(await readdir(join(box, 'new')), [basename(path)]);
  assert.deepEqual(await readdir(join(box, 'tmp')), []);
  assert.deepEqual(await readdir(join(box, 'cur')), []);
  const expected = Buffer.concat([Buffer.from('Return-Path: <a@c.test>\r\nDelivered-To: x@mx.test\r\n'), BINARY]);
  assert.ok((await readFile(path)).equals(expected));
});

test('the null sender is written as Return-Path: <>; a large body is copied intact', async () => {
  const big = Buffer.alloc(2 * 1024 * 1024 + 3);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
  const parts: Buffer[] = [];
  for (let i = 0; i < big.length; i += 100_000) parts.push(big.subarray(i, i + 100_000));
  const path = await deliverToMaildir(root, 'big@mx.test', '', Readable.from(parts), 'mx.test', NOW);
  const stored = await readFile(path);
  const head = Buffer.from('Return-Path: <>\r\nDelivered-To: big@mx.test\r\n');
  assert.ok(stored.subarray(0, head.length).equals(head));
  assert.ok(stored.subarray(head.length).equals(big));
});

test('deliveries in the same millisecond get distinct names (unique per process and sequence)', async () => {
  const paths = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      deliverToMaildir(root, 'same@mx.test', 'a@c.test', Readable.from([Buffer.from(`m${i}`)]), 'mx.test', NOW),
    ),
  );
  assert.equal(new Set(paths).size, 20);
  const names = await readdir(join(mailboxFolder(root, 'same@mx.test'), 'new'));
  assert.equal(names.length, 20);
  for (const name of names) assert.match(name, new RegExp(`^1767323045\\.M678000P${process.pid}Q\\d+\\.mx\\.test$`));
  const bodies = await Promise.all(paths.map(async (p) => (await readFile(p, 'latin1')).split('\r\n').at(-1)));
  assert.deepEqual(bodies.sort(), Array.from({ length: 20 }, (_, i) => `m${i}`).sort());
});

test('a failing message stream leaves nothing in tmp/ or new/', async () => {
  const failing = new Readable({
    read() {
      this.push(Buffer.from('first part'));
      this.destroy(new Error('spool read failed'));
    },
  });
  await assert.rejects(deliverToMaildir(root, 'fail@mx.test', 'a@c.test', failing, 'mx.test', NOW), /spool read failed/);
  const box = mailboxFolder(root, 'fail@mx.test');
  assert.deepEqual(await readdir(join(box, 'tmp')), []);
  assert.deepEqual(await readdir(join(box, 'new')), []);
});

test('mailbox folders are lower-cased and can never leave the root', () => {
  assert.equal(mailboxFolder('/m', 'John.Doe@Example.TEST'), join('/m', 'example.test', 'john.doe'));
  assert.equal(mailboxFolder('/m', '"john doe"@example.test'), join('/m', 'example.test', 'john doe'));
  assert.equal(mailboxFolder('/m', '../../etc@example.test'), join('/m', 'example.test', '__.._etc'));
  assert.equal(mailboxFolder('/m', '..@..'), join('/m', '_', '_'));
  assert.equal(mailboxFolder('/m', '.hidden@example.test.'), join('/m', 'example.test', '_hidden'));
  assert.equal(mailboxFolder('/m', 'a\\b\0c@example.test'), join('/m', 'example.test', 'a_b_c'));
  assert.equal(mailboxFolder('/m', 'postmaster'), join('/m', '_', 'postmaster'));
  for (const address of ['../x@y', 'x@../..', '..@.', '/@/', '"/.."@x']) {
    assert.ok(mailboxFolder('/m', address).startsWith('/m/'), address);
  }
});

test('no symbolic link below the mail root is followed: a linked new/, mailbox or domain folder is refused', async () => {
  const elsewhere = await mkdtemp(join(tmpdir(), 'barge-elsewhere-'));
  try {
    // new/ of an existing mailbox replaced by a link to another directory.
    const box = mailboxFolder(root, 'victim@mx.test');
    for (const sub of ['tmp', 'cur']) await mkdir(join(box, sub), { recursive: true });
    await symlink(elsewhere, join(box, 'new'));
    const send = (rcpt: string): Promise<string> =>
      deliverToMaildir(root, rcpt, 'a@c.test', Readable.from([Buffer.from('hi')]), 'mx.test', NOW);
    await assert.rejects(
      send('victim@mx.test'),
      (e: unknown) => e instanceof MailboxRefused && e.message.includes(`${join(box, 'new')} is a symbolic link`),
    );
    // The mailbox folder itself a link, and a domain folder a link.
    await symlink(elsewhere, mailboxFolder(root, 'linked@mx.test'));
    await assert.rejects(send('linked@mx.test'), MailboxRefused);
    await symlink(elsewhere, join(root, 'other.test'));
    await assert.rejects(send('anyone@other.test'), /other\.test is a symbolic link/);
    assert.deepEqual(await readdir(elsewhere), [], 'nothing was written, nor a folder made, through a link');
    assert.deepEqual(await readdir(join(box, 'tmp')), [], 'nothing left in the real tmp/');
  } finally {
    await rm(elsewhere, { recursive: true, force: true });
  }
});

test('a link in tmp/ or new/ named like the delivery is never opened through', async () => {
  const target = join(await mkdtemp(join(tmpdir(), 'barge-target-')), 'file');
  try {
    await writeFile(target, 'precious');
    const box = mailboxFolder(root, 'named@mx.test');
    for (const sub of ['tmp', 'new', 'cur']) await mkdir(join(box, sub), { recursive: true });
    const name = deliveryName('0000000000ABC', 'named@mx.test', 'mx.test');
    await symlink(target, join(box, 'tmp', name));
    // A stable name replaces its own partial tmp/ file, but a link there is refused (O_NOFOLLOW: ELOOP).
    await assert.rejects(
      deliverToMaildir(root, 'named@mx.test', 'a@c.test', Readable.from([Buffer.from('x')]), 'mx.test', NOW, undefined, {
        name,
        mayExist: false,
      }),
      /ELOOP/,
    );
    await rm(join(box, 'tmp', name));
    await symlink(target, join(box, 'new', name));
    // A link in new/ named like an earlier copy is not that copy.
    await assert.rejects(
      deliverToMaildir(root, 'named@mx.test', 'a@c.test', Readable.from([Buffer.from('x')]), 'mx.test', NOW, undefined, {
        name,
        mayExist: true,
      }),
      /ELOOP/,
    );
    assert.equal(await readFile(target, 'utf8'), 'precious');
  } finally {
    await rm(dirname(target), { recursive: true, force: true });
  }
});
