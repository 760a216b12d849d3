/**
 * Exactly-once local delivery across crashes. A queue delivery's Maildir file name follows from the
 * queue id and the recipient, so a runner restarted after a crash that came between the Maildir
 * rename and the queue update finds the copy it already made instead of writing a second one.
 * The name keeps the Maildir form time.unique.host (https://cr.yp.to/proto/maildir.html), with the
 * time taken from the queue id (ids begin with base-36 milliseconds), so it is the same every time.
 */
import { createHash } from 'node:crypto';
import { open, readdir, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { join } from 'node:path';

export function deliveryName(queueId: string, rcpt: string, hostname: string): string {
  const ms = Number.parseInt(queueId.slice(0, 9), 36);
  const seconds = Number.isFinite(ms) ? Math.floor(ms / 1000) : 0;
  const who = createHash('sha256').update(rcpt.toLowerCase()).digest('hex').slice(0, 16);
  return `${seconds}.B${queueId}R${who}.${hostname.replace(/[/:]/g, '_')}`;
}

/**
 * The path of an earlier copy named `name` in the mailbox `box`: in new/, or in cur/ where a mail
 * reader moved it and added ":2,<flags>". The copy and its directory are fsync'd before the path
 * is returned: the file seen after a process crash may not yet be on disk, and the caller is about
 * to retire the queue entry on the strength of it.
 */
export async function findDelivered(box: string, name: string): Promise<string | undefined> {
  const inNew = join(box, 'new', name);
  if (await syncIfPresent(inNew, join(box, 'new'))) return inNew;
  const moved = (await readdir(join(box, 'cur')).catch(() => [] as string[])).find((n) => n === name || n.startsWith(`${name}:`));
  if (moved === undefined) return undefined;
  const inCur = join(box, 'cur', moved);
  return (await syncIfPresent(inCur, join(box, 'cur'))) ? inCur : undefined;
}

async function syncIfPresent(path: string, dir: string): Promise<boolean> {
  let file: FileHandle;
  try {
    // Never through a link: a link named like the copy is not the copy.
    file = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
  try {
    await file.sync();
  } finally {
    await file.close();
  }
  const folder = await open(dir, 'r');
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
  return true;
}
