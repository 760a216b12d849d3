/** File work of the segment log: gathered writes that resume after a short write, and new segments. */
import { open, rename } from 'node:fs/promises';

/** The buffers of a gathered write, less the first `skip` octets already written. */
export function remaining(buffers: Buffer[], skip: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of buffers) {
    if (skip >= b.length) skip -= b.length;
    else {
      out.push(skip === 0 ? b : b.subarray(skip));
      skip = 0;
    }
  }
  return out;
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
