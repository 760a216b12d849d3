/**
 * Local delivery to Maildir (https://cr.yp.to/proto/maildir.html): the message is written to
 * `<root>/<domain>/<local-part>/tmp/<unique>`, fsync'd, renamed into `new/`, and `new/` fsync'd,
 * so a delivered message is on disk and never seen half-written. Bytes are copied exactly
 * (binary bodies too). Private like Dovecot's: directories 0700, messages 0600. A Return-Path and Delivered-To header go first, as Postfix's local agent does.
 * No symbolic link is followed below the mail root (maildir-path.ts), and files are opened O_NOFOLLOW.
 */
import { unlink } from 'node:fs/promises';
import { constants } from 'node:fs';
import { DirectorySync } from '../fs/durable-write.js';
import { closeFd, fsyncFd, openFd, renamePath, writevAll } from '../fs/fd-file.js';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { domainOf, localPartOf } from '../protocol/command.js';
import { findDelivered } from './maildir-once.js';
import { secureMailbox } from './maildir-path.js';
import type { Clock } from '../time/clock.js';

/** Folder-safe name for a mailbox: lower case, no path separators or leading dots. */
export function mailboxFolder(root: string, address: string): string {
  const safe = (s: string): string => {
    const cleaned = s
      .toLowerCase()
      .replace(/[/\\\0]/g, '_')
      .replace(/^\.+/, '_');
    return cleaned === '' ? '_' : cleaned;
  };
  return join(root, safe(domainOf(address)), safe(localPartOf(address).replace(/^"|"$/g, '')));
}

let sequence = 0;
const BATCH = 256 * 1024;

/** Deliveries that finish together in one folder share one fsync of its new/ (group commit); past LIMIT folders the map starts afresh. */
const LIMIT = 4096;
const syncs = new Map<string, DirectorySync>();
/** A new file, never through a link; a stable name may replace its own partial file from a crash. */
const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW;

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
  /** The message: a stream, or (a small one) its bytes. */
  message: Readable | readonly Buffer[],
  hostname: string,
  clock: Clock,
  /** A Maildir++ subfolder such as ".Junk" (the leading dot makes it a folder, not a mailbox). */
  folder?: string,
  /**
   * A stable name (maildir-once.ts): a copy already delivered under it is found, not written again.
   * `mayExist: false` says no earlier attempt can have made one (the entry's first attempt in the
   * process that received it), so the look-up is skipped.
   */
  stable?: { readonly name: string; readonly mayExist: boolean },
): Promise<string> {
  const stableName = stable?.name;
  const box = folder === undefined ? mailboxFolder(root, rcpt) : join(mailboxFolder(root, rcpt), folder);
  // Every delivery: a directory swapped for a link since the last one must be seen.
  await secureMailbox(root, box);
  const earlier = stableName === undefined || stable?.mayExist === false ? undefined : await findDelivered(box, stableName);
  if (earlier !== undefined) {
    if (message instanceof Readable) message.destroy();
    return earlier;
  }
  const t = clock.now();
  const unique =
    stableName ??
    `${Math.floor(t.getTime() / 1000)}.M${t.getMilliseconds() * 1000}P${process.pid}Q${++sequence}.${hostname.replace(/[/:]/g, '_')}`;
  const tmp = join(box, 'tmp', unique);
  const final = join(box, 'new', unique);
  // A stable name may meet its own partial tmp/ file from a crash: replace it (O_TRUNC), never another's (O_EXCL).
  const file = await openFd(tmp, CREATE | (stableName === undefined ? constants.O_EXCL : constants.O_TRUNC));
  try {
    // Pieces go out in batches of up to BATCH octets, one writev each (a small message is one write).
    // Awaiting each write is the backpressure: the spool is read no faster than this file is written.
    let batch: Buffer[] = [Buffer.from(`Return-Path: <${returnPath}>\r\nDelivered-To: ${rcpt}\r\n`)];
    let batched = 0;
    for await (const chunk of message) {
      batch.push(chunk as Buffer);
      batched += (chunk as Buffer).length;
      if (batched < BATCH) continue;
      await writevAll(file, batch);
      batch = [];
      batched = 0;
    }
    await writevAll(file, batch);
    await fsyncFd(file);
  } catch (e) {
    if (message instanceof Readable) message.destroy();
    // Cleaning up after the failure that is thrown below: its own failure would only hide that one.
    await closeFd(file).catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await closeFd(file);
  await renamePath(tmp, final);
  await syncNew(join(box, 'new'));
  return final;
}
