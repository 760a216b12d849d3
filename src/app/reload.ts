/**
 * Reload without a restart: SIGHUP (or `barge reload`, which sends it, or the console's Apply)
 * re-reads the configuration. A configuration that does not load, or names a certificate, key or
 * DKIM key that cannot be used, is refused with its error and the running one stays; otherwise
 * new sessions use the new one, sessions in progress finish under the old, new TLS handshakes use
 * the certificate read now and the DKIM keys are swapped in. The report names the changed settings
 * that need a restart. Reloads of one server run one at a time, in the order asked (a SIGHUP and a
 * console Apply together): each reads the file after the one before it has been applied.
 * The pid file lets `barge reload` find the server for a data directory.
 */
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/types.js';
import type { RunningServer } from '../server/running.js';

export function pidPath(dataDir: string): string {
  return join(dataDir, 'barge.pid');
}

export async function writePid(dataDir: string): Promise<void> {
  await writeFile(pidPath(dataDir), `${process.pid}\n`, { mode: 0o600 });
}

export async function removePid(dataDir: string): Promise<void> {
  const text = await readFile(pidPath(dataDir), 'utf8').catch(() => '');
  // Only our own: a second server on the same data directory may have written it since.
  if (Number(text.trim()) === process.pid) await unlink(pidPath(dataDir)).catch(() => undefined);
}

/** The pid of the server running on this data directory, if its pid file names a live process. */
export async function runningPid(dataDir: string): Promise<number | undefined> {
  const pid = Number((await readFile(pidPath(dataDir), 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

export interface ReloadResult {
  readonly ok: boolean;
  readonly message: string;
}

/** The tail of each server's chain of reloads. */
const reloading = new WeakMap<RunningServer, Promise<ReloadResult>>();

/** Loads the configuration again and hands it to the server, after any reload still running; never throws. */
export function reloadServer(server: RunningServer, load: () => Promise<Config>): Promise<ReloadResult> {
  const result = (reloading.get(server) ?? Promise.resolve(undefined)).then(() => reloadOnce(server, load));
  reloading.set(server, result);
  return result;
}

async function reloadOnce(server: RunningServer, load: () => Promise<Config>): Promise<ReloadResult> {
  let notes: string[];
  try {
    notes = await server.reload(await load());
  } catch (e) {
    return { ok: false, message: `configuration refused, the running one stays: ${e instanceof Error ? e.message : String(e)}` };
  }
  const tls = server.tls === undefined ? '' : `; TLS: ${server.tls.description}`;
  return { ok: true, message: `configuration reloaded${notes.length === 0 ? '' : ` (${notes.join('; ')})`}${tls}` };
}
