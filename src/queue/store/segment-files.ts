/** File work of the segment log: new segments. */
import { open, rename } from 'node:fs/promises';

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
