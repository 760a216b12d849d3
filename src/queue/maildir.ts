/**
 * Local delivery to Maildir (https://cr.yp.to/proto/maildir.html): the message is written to
 * `<root>/<domain>/<local-part>/tmp/<unique>`, fsync'd, renamed into `new/`, and `new/` fsync'd,
 * so a delivered message is on disk and never seen half-written. Bytes are copied exactly
 * (binary bodies too). Private like Dovecot's: directories 0700, messages 0600. A Return-Path and Delivered-To header go first, as Postfix's local agent does.
 */
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { DirectorySync } from './durable-write.js';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { domainOf, localPartOf } from '../protocol/command.js';
import { findDelivered } from './maildir-once.js';

/** Folder-safe name for a mailbox: lower case, no path separators or leading dots. */
export function mailboxFolder(root: string, address: string): string {
  const safe = (s: string): string => {
    const cleaned = s.toLowerCase().replace(/[/\\\0]/g, '_').replace(/^\.+/, '_');
    return cleaned === '' ? '_' : cleaned;
  };
  return join(root, safe(domainOf(address)), safe(localPartOf(address).replace(/^"|"$/g, '')));
}

let sequence = 0;

/**
 * Deliveries that finish together in one folder share one fsync of its new/ (group commit), and a
 * mailbox made once is not made again. Both maps are bounded: past LIMIT folders they start afresh.
 */
const LIMIT = 4096;
const syncs = new Map<string, DirectorySync>();
const made = new Set<string>();

function syncNew(dir: string): Promise<void> {
  let sync = syncs.get(dir);
  if (sync === undefined) {
    if (syncs.size >= LIMIT) syncs.clear();
    sync = new DirectorySync(dir);
    syncs.set(dir, sync);
  }
  return sync.sync();
}

export async function deliverToMaildir(
  root: string,
  rcpt: string,
  returnPath: string,
  message: Readable,
  hostname: string,
  now: () => Date,
  /** A Maildir++ subfolder such as ".Junk" (the leading dot makes it a folder, not a mailbox). */
  folder?: string,
  /** A stable name (maildir-once.ts): a copy already delivered under it is found, not written again. */
  stableName?: string,
): Promise<string> {
  const box = folder === undefined ? mailboxFolder(root, rcpt) : join(mailboxFolder(root, rcpt), folder);
  if (!made.has(box)) {
    for (const sub of ['tmp', 'new', 'cur']) await mkdir(join(box, sub), { recursive: true, mode: 0o700 });
    if (made.size >= LIMIT) made.clear();
    made.add(box);
  }
  const earlier = stableName === undefined ? undefined : await findDelivered(box, stableName);
  if (earlier !== undefined) {
    message.destroy();
    return earlier;
  }
  const t = now();
  const unique = stableName ?? `${Math.floor(t.getTime() / 1000)}.M${t.getMilliseconds() * 1000}P${process.pid}Q${++sequence}.${hostname.replace(/[/:]/g, '_')}`;
  const tmp = join(box, 'tmp', unique);
  const final = join(box, 'new', unique);
  // A stable name may meet its own partial tmp/ file from a crash: replace it ('w'), never another's ('wx').
  const file = await open(tmp, stableName === undefined ? 'wx' : 'w', 0o600).catch((e: unknown) => {
    made.delete(box); // removed meanwhile: made again at the next attempt
    throw e;
  });
  try {
    await file.write(`Return-Path: <${returnPath}>\r\nDelivered-To: ${rcpt}\r\n`);
    // Awaiting each write is the backpressure: the spool file is read no faster than this one is written.
    for await (const chunk of message) await file.write(chunk as Buffer);
    await file.sync();
  } catch (e) {
    message.destroy();
    await file.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await file.close();
  await rename(tmp, final);
  await syncNew(join(box, 'new'));
  return final;
}
