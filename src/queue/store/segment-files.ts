/** File work of the segment log: segment names, new segments, and the positional writes of a group. */
import { writev, writevSync } from 'node:fs';
import { open, readdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { LiveIndex } from './live-index.js';
import { unwritten } from '../../fs/fd-file.js';

/** `0000000042.seg`: generations sort as names. */
export const segmentName = (generation: number): string => `${String(generation).padStart(10, '0')}.seg`;

/** The generations of the segments in `dir`, oldest first. */
export async function generationsIn(dir: string): Promise<number[]> {
  return (await readdir(dir))
    .filter((n) => /^\d{10}\.seg$/.test(n))
    .map((n) => Number(n.slice(0, 10)))
    .sort((a, b) => a - b);
}

/** A zero-filled segment, written aside, fsync'd and renamed in; private (0600). */
export async function preallocate(path: string, size: number): Promise<void> {
  const tmp = `${path}.new`;
  const file = await open(tmp, 'w', 0o600);
  try {
    const zeros = Buffer.alloc(Math.min(size, 1024 * 1024));
    for (let at = 0; at < size; ) at += (await file.write(zeros, 0, Math.min(zeros.length, size - at), at)).bytesWritten;
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(tmp, path);
}

/** fs.writev through its callback: the FileHandle method costs about 25 µs more per call here (its promise machinery). */
const positionalWritev = (fd: number, buffers: Buffer[], position: number): Promise<number> =>
  new Promise((resolve, reject) => writev(fd, buffers, position, (e, written) => (e === null ? resolve(written) : reject(e))));

/**
 * Writes `total` octets of `buffers` at `position`, short writes continued: on the calling thread
 * (`inline`, blocking it for the write) or through the thread pool.
 */
export async function writeAt(fd: number, buffers: Buffer[], position: number, total: number, inline: boolean): Promise<void> {
  for (let done = 0, left = buffers; done < total; ) {
    const written = inline ? writevSync(fd, left, position + done) : await positionalWritev(fd, left, position + done);
    left = unwritten(left, written);
    done += written;
  }
}

/**
 * Replays every segment into the index, oldest first; returns how many ended in a torn record. A
 * read-only log skips a segment the writer renamed meanwhile.
 */
export async function replaySegments(dir: string, generations: readonly number[], index: LiveIndex, readOnly: boolean): Promise<number> {
  let torn = 0;
  for (const g of generations) {
    const segment = await readFile(join(dir, segmentName(g))).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' && readOnly) return undefined;
      throw e;
    });
    if (segment !== undefined && index.replay(g, segment)) torn++;
  }
  return torn;
}
