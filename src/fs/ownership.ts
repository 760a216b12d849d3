/**
 * Gives a directory tree to a user, as root, without ever being led outside it by something that
 * user made. Run by a root process over a directory the user may already own, a naive `chown -R`
 * is a way to root: the user swaps a subdirectory for a link to /etc between the walk's look and
 * its change, or hard-links /etc/shadow into the tree. So:
 * - every change is an lchown, which never follows the last component of a path;
 * - a subdirectory is entered only while it and every directory above it (up to the top) belong to
 *   root and are writable by root alone, so nobody else can swap what the walk is inside; and each
 *   directory is given away only after its contents;
 * - a file with more than one hard link is left alone (Barge never makes one: Maildir delivery and
 *   the spool write single-link files).
 * The first start over a tree root made walks it whole; after that everything is the user's and
 * only the top's own entries are looked at (a mail store of many files is not walked again).
 */
import { lchown, lstat, mkdir, readdir, realpath } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join } from 'node:path';

export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

export interface Given {
  /** Entries whose owner or group was changed (the top included). */
  readonly changed: number;
  /** Files left to their owner because they have more than one hard link. */
  readonly linked: readonly string[];
}

const rootsAlone = (st: Stats): boolean => st.uid === 0 && (st.mode & 0o022) === 0;
const owns = (st: Stats, owner: Owner): boolean => st.uid === owner.uid && st.gid === owner.gid;

/** Creates `top` when missing (0750), then gives it and what it holds to `owner` as described above. */
export async function giveTree(top: string, owner: Owner): Promise<Given> {
  await mkdir(top, { recursive: true, mode: 0o750 });
  // A configured path may be a link (/var/lib/barge -> /srv/barge): resolved once, before the walk.
  const root = await realpath(top);
  const st = await lstat(root);
  const given = { changed: 0, linked: [] as string[] };
  await giveEntries(root, owner, rootsAlone(st), given);
  if (!owns(st, owner)) {
    await lchown(root, owner.uid, owner.gid);
    given.changed++;
  }
  return given;
}

/** `enter`: `dir` and every directory above it are root's alone, so its subdirectories may be walked. */
async function giveEntries(dir: string, owner: Owner, enter: boolean, given: { changed: number; linked: string[] }): Promise<void> {
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    const st = await lstat(path);
    if (st.isFile() && st.nlink > 1) {
      if (!owns(st, owner)) given.linked.push(path);
      continue;
    }
    if (enter && st.isDirectory() && rootsAlone(st)) await giveEntries(path, owner, true, given);
    if (!owns(st, owner)) {
      await lchown(path, owner.uid, owner.gid);
      given.changed++;
    }
  }
}
