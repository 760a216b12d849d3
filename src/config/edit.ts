/**
 * Changes a few keys of one table in a TOML config file as text, so its comments and layout stay
 * as the administrator wrote them (the TOML library would rewrite the whole file without comments).
 * The caller validates the result with the loader before writing it.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DEFAULTS } from './defaults.js';
import { systemErrorCode, systemErrorText } from './system-errors.js';

export type TomlValue = string | number | boolean;

/** Written beside the data when Barge runs without a config file: `barge serve` reads it at start. */
export const CONSOLE_FILE = 'console.toml';
export const CONSOLE_HEADER =
  '# Settings written by the Barge web console (no --config file was given).\n# Barge reads this file at start when run without --config; edit or delete it as you like.\n';

export function consoleConfigPath(dataDir: string): string {
  return join(dataDir, CONSOLE_FILE);
}

/** The configuration of an installed Barge (docs/service.md). */
export const SYSTEM_CONFIG = '/etc/barge/barge.toml';

/**
 * The file to read when `--config` names none: the system's file when it exists and no `--data-dir`
 * names an instance of its own (so a checkout's `npm start` and its tests, which always name one,
 * never pick up an installed server's settings); else the console's settings file in the data
 * directory when it exists; else none (the defaults).
 */
export function defaultConfigPath(
  named: string | undefined,
  dataDirFlag: string | undefined,
  systemConfig = SYSTEM_CONFIG,
): string | undefined {
  if (named !== undefined) return named;
  if (dataDirFlag === undefined && existsSync(systemConfig)) return systemConfig;
  const path = consoleConfigPath(resolve(dataDirFlag ?? DEFAULTS.dataDir));
  return existsSync(path) ? path : undefined;
}

/**
 * The text of the file an edit starts from: the console's header when the file does not exist yet
 * (ENOENT), else its contents. Any other failure to read it (a directory in its place, no
 * permission, an I/O error) throws, naming the file: an edit built on an empty text would replace
 * the administrator's whole configuration with the console's few keys.
 */
export async function readConfigText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if (systemErrorCode(e) === 'ENOENT') return CONSOLE_HEADER;
    throw new Error(`cannot read ${path}: ${systemErrorText(e)}`);
  }
}

const bare = (s: string): string => s.trim().replace(/^"(.*)"$/, '$1');

function literal(v: TomlValue): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/**
 * Sets (or with `undefined`, removes) keys directly in table `path` (["listener", "smtp"]). A missing
 * table is appended at the end. Keys set elsewhere (dotted keys in another table) are not seen: the
 * caller checks the loaded result.
 */
export function setTomlKeys(text: string, path: readonly string[], changes: Readonly<Record<string, TomlValue | undefined>>): string {
  const lines = text.split('\n');
  const header = lines.findIndex((l) => {
    const m = /^\s*\[([^[\]]+)\]\s*(#.*)?$/.exec(l);
    return m !== null && (m[1] ?? '').split('.').map(bare).join('\0') === path.join('\0');
  });
  const pending = new Map(Object.entries(changes));
  if (header < 0) {
    const added = [...pending].filter(([, v]) => v !== undefined).map(([k, v]) => `${k} = ${literal(v as TomlValue)}`);
    if (added.length === 0) return text;
    const name = path.map((p) => (/^[A-Za-z0-9_-]+$/.test(p) ? p : JSON.stringify(p))).join('.');
    return `${text.replace(/\n*$/, '')}${text.trim() === '' ? '' : '\n\n'}[${name}]\n${added.join('\n')}\n`;
  }
  let end = lines.findIndex((l, i) => i > header && /^\s*\[/.test(l));
  if (end < 0) end = lines.length;
  const out = lines.slice(0, header + 1);
  for (const line of lines.slice(header + 1, end)) {
    const key = /^\s*("[^"]+"|[A-Za-z0-9_-]+)\s*=/.exec(line);
    const name = key === null ? undefined : bare(key[1] ?? '');
    if (name === undefined || !pending.has(name)) {
      out.push(line);
      continue;
    }
    const value = pending.get(name);
    pending.delete(name);
    if (value !== undefined) out.push(`${name} = ${literal(value)}`);
  }
  // New keys go right after the last key line of the table, before trailing blank lines.
  let at = out.length;
  while (at > header + 1 && (out[at - 1] ?? '').trim() === '') at--;
  const added = [...pending].filter(([, v]) => v !== undefined).map(([k, v]) => `${k} = ${literal(v as TomlValue)}`);
  out.splice(at, 0, ...added);
  return [...out, ...lines.slice(end)].join('\n');
}
