/** Runs Barge's server: listeners, spool, queue runner and logs, until SIGINT/SIGTERM. (being written) */
import type { Config } from '../config/types.js';

export async function runServer(config: Config, say: (line: string) => void): Promise<number> {
  say(`barge: would serve ${config.listeners.length} listener(s)`);
  return 1;
}
