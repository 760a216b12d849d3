/**
 * Queue changes asked for by `barge queue` while a server holds the spool. Only the server writes
 * the segment log, so the command drops a request into `spool/control/` and the server applies it
 * (with the same functions the console uses) and answers in `<request>.done`.
 */
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

export type ControlOp = 'retry' | 'flush' | 'hold' | 'release' | 'bounce' | 'delete';
export interface ControlRequest {
  readonly op: ControlOp;
  readonly id?: string;
}
/** How many entries changed (0: none, e.g. no such entry). */
export type ControlApply = (request: ControlRequest) => Promise<number>;

const dirOf = (spoolRoot: string): string => join(spoolRoot, 'control');

/** Asks the server; resolves with its answer, or undefined if none came within `timeoutMs`. */
export async function askServer(spoolRoot: string, request: ControlRequest, timeoutMs: number): Promise<number | undefined> {
  const dir = dirOf(spoolRoot);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const name = `${Date.now()}-${randomBytes(4).toString('hex')}`;
  // Written aside and renamed, so the server never reads half a request.
  await writeFile(join(dir, `${name}.tmp`), JSON.stringify(request), { mode: 0o600 });
  await rename(join(dir, `${name}.tmp`), join(dir, `${name}.req`));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const answer = await readFile(join(dir, `${name}.done`), 'utf8').catch(() => undefined);
    if (answer !== undefined) {
      await unlink(join(dir, `${name}.done`)).catch(() => undefined);
      return Number(answer);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}

/** Applies requests as they arrive (and any left from before); one at a time, in order. */
export async function serveRequests(spoolRoot: string, apply: ControlApply, onError: (e: unknown) => void): Promise<{ close(): void }> {
  const dir = dirOf(spoolRoot);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  let running: Promise<void> = Promise.resolve();
  let again = false;
  let busy = false;
  const drain = async (): Promise<void> => {
    for (const name of (await readdir(dir)).filter((n) => n.endsWith('.req')).sort()) {
      const path = join(dir, name);
      const request = JSON.parse(await readFile(path, 'utf8')) as ControlRequest;
      const changed = await apply(request).catch((e: unknown) => {
        onError(e);
        return 0;
      });
      await writeFile(join(dir, name.replace(/\.req$/, '.done')), String(changed), { mode: 0o600 });
      await unlink(path);
    }
  };
  const kick = (): void => {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    running = drain()
      .catch(onError)
      .finally(() => {
        busy = false;
        if (again) {
          again = false;
          kick();
        }
      });
  };
  const watcher: FSWatcher = watch(dir, () => kick());
  watcher.on('error', onError);
  kick();
  await running;
  return {
    close: () => watcher.close(),
  };
}
