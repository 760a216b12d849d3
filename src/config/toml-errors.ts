/**
 * How the config file's errors are told: each schema issue names its key, and the file's line where
 * that key is set, found in the TOML text, so an operator can go straight to it.
 */
import type { z } from 'zod';

/** Each issue with the key it concerns and, through `where`, the file and line. */
export function describeIssues(error: z.ZodError, where: (path: readonly PropertyKey[]) => string): string {
  return error.issues
    .map((issue) => {
      const key = issue.path.map(String).join('.');
      const detail = issue.code === 'unrecognized_keys' ? `unknown key ${issue.keys.map((k) => `"${k}"`).join(', ')}` : issue.message;
      const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0] ?? ''] : issue.path;
      return `${where(path)}${key === '' ? '' : `${key}: `}${detail}`;
    })
    .join('; ');
}

/** "FILE line N: " for the key at a path, to start a message with; "" when there is no file. */
export function locator(toml: { readonly text: string; readonly file: string } | undefined): (path: readonly PropertyKey[]) => string {
  return (path) => (toml === undefined ? '' : `${toml.file}${lineOf(toml.text, path)}: `);
}

/**
 * The line where the key at `path` is set: finds each table header ([a.b] or [a."b"]) in turn, then
 * the key inside it; a key that is missing from its table is told at the table's header. Good enough
 * for error messages; falls back to no line.
 */
export function lineOf(text: string, path: readonly PropertyKey[]): string {
  const keys = path.filter((p): p is string => typeof p === 'string');
  const lines = text.split(/\r?\n/);
  const bare = (s: string): string => s.trim().replace(/^"|"$/g, '');
  const within = (prefix: readonly string[]): boolean => keys.length >= prefix.length && prefix.every((k, j) => k === keys[j]);
  let table: string[] = [];
  let header = { line: '', depth: 0 };
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').replace(/#.*$/, '').trim();
    const opened = /^\[([^\]]+)\]$/.exec(line);
    if (opened !== null) {
      // Dotted keys, quoted ones whole: [tls."mx.example.org"] is the table tls, key mx.example.org.
      table = ((opened[1] ?? '').match(/"[^"]*"|[^."]+/g) ?? []).map(bare);
      if (within(table) && table.length > header.depth) header = { line: ` line ${i + 1}`, depth: table.length };
      continue;
    }
    const key = /^("[^"]+"|[A-Za-z0-9_-]+)\s*=/.exec(line);
    if (key === null) continue;
    if (within([...table, bare(key[1] ?? '')])) return ` line ${i + 1}`;
  }
  return header.line;
}
