/** The spool's files beside the log: the lock that names its one writer, and the old file-per-message entries' trailers. */
import { basename, join } from 'node:path';
import { open, readFile, writeFile, type FileHandle } from 'node:fs/promises';

const TRAILER_MAGIC = 'BARGE-ENVELOPE ';
const TRAILER_LENGTH = TRAILER_MAGIC.length + 10 + 1;

/** The pid of the live process that holds the spool, if another one does. */
export async function spoolHolder(root: string): Promise<number | undefined> {
  const pid = Number((await readFile(join(root, 'lock'), 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return undefined;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
  }
  // After a crash and a reboot the pid may belong to another program: only a Node.js process counts.
  const command = await readFile(`/proc/${pid}/cmdline`, 'latin1').catch(() => undefined);
  return command === undefined || command.includes(basename(process.execPath)) ? pid : undefined;
}

/** One writer per spool: a second server (or a second writer) would interleave log records. */
export async function lock(root: string): Promise<void> {
  const holder = await spoolHolder(root);
  if (holder !== undefined) throw new Error(`the spool ${root} is in use by process ${holder}`);
  await writeFile(join(root, 'lock'), `${process.pid}\n`, { mode: 0o600 });
}

/** The envelope of a file-per-message entry: "\n" + JSON + "\n" + "BARGE-ENVELOPE <10-digit length>\n". */
export async function readTrailer(path: string): Promise<unknown> {
  const file = await open(path, 'r');
  try {
    const size = (await file.stat()).size;
    const tail = Buffer.alloc(Math.min(TRAILER_LENGTH, size));
    await readAt(file, tail, size - tail.length);
    const text = tail.toString('latin1');
    if (!text.startsWith(TRAILER_MAGIC)) throw new Error(`queue entry ${path} has no envelope trailer`);
    const length = Number(text.slice(TRAILER_MAGIC.length, TRAILER_MAGIC.length + 10));
    const json = Buffer.alloc(length);
    await readAt(file, json, size - TRAILER_LENGTH - 1 - length);
    return JSON.parse(json.toString('utf8')) as unknown;
  } finally {
    await file.close();
  }
}

async function readAt(file: FileHandle, buf: Buffer, position: number): Promise<void> {
  const { bytesRead } = await file.read(buf, 0, buf.length, position);
  if (bytesRead !== buf.length) throw new Error('short read');
}
