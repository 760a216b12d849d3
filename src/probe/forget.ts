/** What a probe's verdict changes in what delivery learnt. */
import type { QuirkStore } from '../client/quirks.js';
import { formatHostPort, type HostPort } from '../protocol/host-port.js';

/**
 * A clean probe (exit 0) lifts what Barge remembered about that path: quirks learnt under the name,
 * or at the address probed. Returns how many went.
 */
export async function forgetIfClean(store: QuirkStore, target: HostPort, address: string | undefined, exitCode: number): Promise<number> {
  if (exitCode !== 0) return 0;
  let cleared = await store.clear(formatHostPort(target));
  if (address !== undefined) cleared += await store.clear(formatHostPort({ host: address, port: target.port }));
  return cleared;
}
