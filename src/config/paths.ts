/** Where things live under the data directory: the one place these names are written. */
import { join } from 'node:path';

export interface DataPaths {
  readonly spool: string;
  readonly mail: string;
  readonly log: string;
  readonly tracking: string;
}

/** Paths under the data directory. */
export function dataPaths(dataDir: string): DataPaths {
  return {
    spool: join(dataDir, 'spool'),
    mail: join(dataDir, 'mail'),
    log: join(dataDir, 'log'),
    tracking: join(dataDir, 'log', 'tracking'),
  };
}
