/**
 * Reads a listener's W3C protocol log back (w3c.ts writes it): the newest daily file's `#Fields`
 * as column names and its entries, last ones first, optionally only those containing a text.
 * Fields are space-separated with spaces inside values written as '+', so a split is exact.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface ProtocolLogPage {
  /** The file read ("ex261201.log"), undefined when the folder has none. */
  readonly file: string | undefined;
  readonly files: readonly string[];
  readonly fields: readonly string[];
  readonly rows: ReadonlyArray<readonly string[]>;
}

const FILE = /^ex\d{6}\.log$/;

/** At most `limit` entries from the end of `file` (default: the newest) in `dir`. */
export async function readProtocolLog(dir: string, options: { file?: string; search?: string; limit?: number } = {}): Promise<ProtocolLogPage> {
  const files = (await readdir(dir).catch(() => [] as string[])).filter((n) => FILE.test(n)).sort().reverse();
  const file = options.file !== undefined && files.includes(options.file) ? options.file : files[0];
  if (file === undefined) return { file, files, fields: [], rows: [] };
  const text = await readFile(join(dir, file), 'utf8');
  let fields: string[] = [];
  const rows: string[][] = [];
  const needle = options.search?.toLowerCase() ?? '';
  for (const line of text.split(/\r?\n/)) {
    if (line.startsWith('#Fields:')) fields = line.slice('#Fields:'.length).trim().split(' ');
    if (line === '' || line.startsWith('#')) continue;
    if (needle !== '' && !line.toLowerCase().includes(needle)) continue;
    rows.push(line.split(' '));
  }
  const limit = options.limit ?? 500;
  return { file, files, fields, rows: rows.slice(-limit).reverse() };
}
