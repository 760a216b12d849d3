/**
 * Reload without a restart: SIGHUP (or `barge reload`, which sends it, or the console's Apply)
 * re-reads the configuration. A configuration that does not load is refused with its error and
 * the running one stays; otherwise new sessions use the new one, sessions in progress finish
 * under the old, and the TLS certificate is read again. The pid file lets `barge reload` find
 * the server for a data directory.
 */
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/types.js';
import type { RunningServer } from './run.js';

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

/** Loads the configuration again and hands it to the server; never throws. */
export async function reloadServer(server: RunningServer, load: () => Promise<Config>): Promise<ReloadResult> {
  let next: Config;
  try {
    next = await load();
  } catch (e) {
    return { ok: false, message: `configuration refused, the running one stays: ${e instanceof Error ? e.message : String(e)}` };
  }
  const notes = server.reload(next);
  let tlsNote = '';
  if (server.tls !== undefined) {
    try {
      await server.tls.reload(next);
      tlsNote = `; TLS: ${server.tls.description}`;
    } catch (e) {
      tlsNote = `; TLS reload failed, keeping the old certificate: ${e instanceof Error ? e.message : String(e)}`;
    }
  }
  return { ok: true, message: `configuration reloaded${notes.length === 0 ? '' : ` (${notes.join('; ')})`}${tlsNote}` };
}
