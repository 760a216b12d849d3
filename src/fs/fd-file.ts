/**
 * File operations on descriptors through fs callbacks, for the work done once per delivered copy:
 * reading the message from its segment, the Maildir file and its rename, directory fsyncs. A
 * FileHandle costs more work per call (its own promise machinery and bookkeeping): measured on 1 KB
 * Maildir files, 16 at a time, about 210 µs of CPU per file through FileHandles against about
 * 150 µs through these.
 */
import { close, fsync, open, read, rename, writev } from 'node:fs';

type Done<T> = (e: NodeJS.ErrnoException | null, value: T) => void;
const settle =
  <T>(resolve: (v: T) => void, reject: (e: Error) => void): Done<T> =>
  (e, value) =>
    e === null ? resolve(value) : reject(e);

export function openFd(path: string, flags: string | number, mode = 0o600): Promise<number> {
  return new Promise((resolve, reject) => open(path, flags, mode, settle(resolve, reject)));
}

export function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (e) => (e === null ? resolve() : reject(e))));
}

export function closeFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => close(fd, (e) => (e === null ? resolve() : reject(e))));
}

/** Reads up to `length` octets at `position` into `into` from `at`; resolves with the count read. */
export function readAt(fd: number, into: Buffer, at: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => read(fd, into, at, length, position, settle(resolve, reject)));
}

export function renamePath(from: string, to: string): Promise<void> {
  return new Promise((resolve, reject) => rename(from, to, (e) => (e === null ? resolve() : reject(e))));
}

/** Writes the buffers in order at the file's position: one writev, again for whatever a short write left. */
export function writevAll(fd: number, buffers: Buffer[]): Promise<void> {
  return writeFully(buffers, (left) => new Promise<number>((resolve, reject) => writev(fd, left, settle(resolve, reject))));
}

/** Gathered writes continued after short ones: `writeSome` writes what it is given and resolves with how much it took. */
export async function writeFully(buffers: Buffer[], writeSome: (left: Buffer[]) => Promise<number>): Promise<void> {
  for (let left = buffers; left.length > 0; ) left = unwritten(left, await writeSome(left));
}

/** The buffers left after a gathered write took only `written` octets of them (a short write). */
export function unwritten(buffers: Buffer[], written: number): Buffer[] {
  let i = 0;
  let n = written;
  while (i < buffers.length && n >= (buffers[i]?.length ?? 0)) n -= buffers[i++]?.length ?? 0;
  const left = buffers.slice(i);
  const first = left[0];
  if (first !== undefined && n > 0) left[0] = first.subarray(n);
  return left;
}
