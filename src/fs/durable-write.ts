/**
 * The one way to replace a small file so that it survives a crash whole: write a temporary file
 * beside it, fsync it, rename it over the old one (atomic, POSIX rename(2)), then fsync the
 * directory so the rename itself is on disk. A reader sees the old file or the new one, never half.
 *
 * Files that need it (a lost or torn write would deliver twice, lose a change, or break startup):
 * - `users` (auth/users.ts): a password change or removal that silently came undone is a hole.
 * - `quirks.json` (client/quirks.ts): atomic for readers; durable so a cleared quirk stays cleared.
 * - the self-signed key and certificate (server/self-signed.ts): a torn key stops TLS at startup.
 * - the ACME account key and certificate (acme/store.ts): a lost account key means a new account.
 * Files that do not use it, and why:
 * - the spool (queue/spool.ts, store/segment-log.ts) appends records, delivery state included, to
 *   its log and group-commits them with one synchronised (O_DSYNC) write; its large-message files and Maildir deliveries
 *   (queue/maildir.ts) are streamed, not rewritten: they fsync the file themselves and share a
 *   `DirectorySync` after the rename (group commit).
 * - logs (log/) are append-only; a lost tail after a crash is accepted.
 */
import { type FileHandle, open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { closeFd, fsyncFd, openFd, writeFully } from './fd-file.js';

export interface DurableWriteOptions {
  /** File mode of the new file (default 0600: Barge's files are private unless said otherwise). */
  readonly mode?: number;
}

/** Makes a rename or a new directory entry durable (fsync of the directory, POSIX). */
export async function syncDirectory(path: string): Promise<void> {
  const dir = await openFd(path, 'r');
  try {
    await fsyncFd(dir);
  } finally {
    await closeFd(dir);
  }
}

/** Replaces `path` with `data`; resolves once the new content and its name are on disk. */
export async function writeFileDurably(path: string, data: string | Uint8Array, options: DurableWriteOptions = {}): Promise<void> {
  const tmp = `${path}.tmp`;
  // A temporary file left by a crash keeps its old mode through open(); start afresh.
  await unlink(tmp).catch(() => undefined);
  const file = await open(tmp, 'wx', options.mode ?? 0o600);
  try {
    await file.writeFile(data);
    await file.sync();
  } catch (e) {
    // Cleaning up after the failure that is thrown below: its own failure would only hide that one.
    await file.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await file.close();
  await rename(tmp, path).catch(async (e: unknown) => {
    await unlink(tmp).catch(() => undefined);
    throw e;
  });
  await syncDirectory(dirname(path));
}

/** Runs one directory fsync for every group of callers that arrive while the previous one runs. */
export class DirectorySync {
  readonly #path: string;
  #running: Promise<void> | undefined;
  #next: Promise<void> | undefined;

  constructor(path: string) {
    this.#path = path;
  }

  sync(): Promise<void> {
    if (this.#next !== undefined) return this.#next;
    if (this.#running === undefined) return (this.#running = this.#run());
    const after = this.#running.catch(() => undefined);
    this.#next = after.then(() => {
      this.#next = undefined;
      return (this.#running = this.#run());
    });
    return this.#next;
  }

  async #run(): Promise<void> {
    try {
      await syncDirectory(this.#path);
    } finally {
      this.#running = undefined;
    }
  }
}

/** Writes the buffers in order at the file's position: one writev, again for whatever a short write left. */
export function writeAll(handle: FileHandle, buffers: Buffer[]): Promise<void> {
  return writeFully(buffers, async (left) => (await handle.writev(left)).bytesWritten);
}
