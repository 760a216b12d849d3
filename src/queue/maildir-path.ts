/**
 * A mailbox's directories, made and checked before every delivery: from below the mail root down
 * to the mailbox's tmp/, new/ and cur/, each must be a real directory, never a symbolic link. Barge
 * writes as the user it runs as (often root), so a mailbox folder that another user can write to
 * must not be able to send that write elsewhere through a link. The mail root itself is the
 * administrator's choice and may be a link. Missing directories are made one at a time (0700),
 * without following links (a recursive mkdir would follow them).
 *
 * A refused path is a MailboxRefused error naming the component: the delivery is deferred (a local
 * misconfiguration to fix, not the sender's fault) and retried like any local failure.
 */
import { mkdir } from 'node:fs/promises';
import { lstat, lstatSync, type Stats } from 'node:fs';
import { join, relative, sep } from 'node:path';

export class MailboxRefused extends Error {}

/** The directories to check, in order from the top: the mailbox's own path, then its three subfolders. */
function components(root: string, box: string): string[] {
  const out: string[] = [];
  let at = root;
  for (const part of relative(root, box).split(sep)) out.push((at = join(at, part)));
  return [...out, join(box, 'tmp'), join(box, 'new'), join(box, 'cur')];
}

/** Checks (and makes, where missing) every directory of the mailbox below `root`. */
export async function secureMailbox(root: string, box: string): Promise<void> {
  const dirs = components(root, box);
  // Usually all exist, their entries in the kernel's cache: an lstat each, made inline. Through the
  // thread pool each would cost a round trip several times the call itself, on every delivery.
  if (dirs.every((dir) => checked(dir, lstatSync(dir, { throwIfNoEntry: false }), root))) return;
  await mkdir(root, { recursive: true, mode: 0o700 });
  for (const dir of dirs) {
    if (checked(dir, await stat(dir), root)) continue;
    await mkdir(dir, { mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
    if (!checked(dir, await stat(dir), root)) throw new MailboxRefused(`${dir} could not be made`);
  }
}

/** True for a real directory, false when missing; throws for anything else. */
function checked(dir: string, s: Stats | undefined, root: string): boolean {
  if (s === undefined) return false;
  if (s.isSymbolicLink()) throw new MailboxRefused(`mailbox path ${dir} is a symbolic link: not followed below the mail root ${root}`);
  if (!s.isDirectory()) throw new MailboxRefused(`mailbox path ${dir} is not a directory`);
  return true;
}

/** lstat through the callback API (cheaper per call than a FileHandle); undefined when missing. */
function stat(path: string): Promise<Stats | undefined> {
  return new Promise((resolve, reject) =>
    lstat(path, (e, s) => {
      if (e === null) resolve(s);
      else if (e.code === 'ENOENT') resolve(undefined);
      else reject(e);
    }),
  );
}
