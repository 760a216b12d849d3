/**
 * Local delivery to Maildir (https://cr.yp.to/proto/maildir.html): the message is written to
 * `<root>/<domain>/<local-part>/tmp/<unique>`, fsync'd, renamed into `new/`, and `new/` fsync'd,
 * so a delivered message is on disk and never seen half-written. Bytes are copied exactly
 * (binary bodies too); a Return-Path and Delivered-To header go first, as Postfix's local agent does.
 */
import { createWriteStream } from 'node:fs';
import { close, fsync, open } from 'node:fs';
import { mkdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import type { Readable } from 'node:stream';
import { domainOf, localPartOf } from '../protocol/command.js';

const fsyncAsync = promisify(fsync);
const closeAsync = promisify(close);
const openAsync = promisify(open);

/** Folder-safe name for a mailbox: lower case, no path separators or leading dots. */
export function mailboxFolder(root: string, address: string): string {
  const safe = (s: string): string => {
    const cleaned = s.toLowerCase().replace(/[/\\\0]/g, '_').replace(/^\.+/, '_');
    return cleaned === '' ? '_' : cleaned;
  };
  return join(root, safe(domainOf(address)), safe(localPartOf(address).replace(/^"|"$/g, '')));
}

let sequence = 0;

export async function deliverToMaildir(
  root: string,
  rcpt: string,
  returnPath: string,
  message: Readable,
  hostname: string,
  now: () => Date,
): Promise<string> {
  const box = mailboxFolder(root, rcpt);
  for (const sub of ['tmp', 'new', 'cur']) await mkdir(join(box, sub), { recursive: true });
  const t = now();
  const unique = `${Math.floor(t.getTime() / 1000)}.M${t.getMilliseconds() * 1000}P${process.pid}Q${++sequence}.${hostname.replace(/[/:]/g, '_')}`;
  const tmp = join(box, 'tmp', unique);
  const final = join(box, 'new', unique);
  const out = createWriteStream(tmp, { flags: 'wx', autoClose: false });
  let fd: number | undefined;
  out.on('open', (n: number) => {
    fd = n;
  });
  try {
    out.write(`Return-Path: <${returnPath}>\r\nDelivered-To: ${rcpt}\r\n`);
    await pipeline(message, out);
    if (fd === undefined) throw new Error('maildir file was not opened');
    await fsyncAsync(fd);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  } finally {
    if (fd !== undefined) await closeAsync(fd).catch(() => undefined);
  }
  await rename(tmp, final);
  const dirFd = await openAsync(join(box, 'new'), 'r');
  try {
    await fsyncAsync(dirFd);
  } finally {
    await closeAsync(dirFd);
  }
  return final;
}
