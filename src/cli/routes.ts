/**
 * `barge routes [list]` shows where mail goes (routes, smart host) and what Barge has learnt about
 * the paths (quirks: no BDAT, no TLS, whole-message chunks, with reason and expiry);
 * `barge routes clear [HOST[:PORT]]` forgets quirks so the next delivery tries BDAT or TLS again.
 */
import type { Config } from '../config/types.js';
import { QuirkStore, quirksPath } from '../client/quirks.js';

export async function runRoutes(
  config: Config,
  args: readonly string[],
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<number> {
  const [action = 'list', target, extra] = args;
  const store = await QuirkStore.open(quirksPath(config.dataDir));
  if (action === 'clear' && extra === undefined) {
    const n = await store.clear(target);
    out(`cleared ${n} quirk${n === 1 ? '' : 's'}${target === undefined ? '' : ` for ${target}`}`);
    return 0;
  }
  if (action !== 'list' || target !== undefined) {
    err('usage: barge routes [list] | routes clear [HOST[:PORT]]');
    return 2;
  }
  const d = config.delivery;
  for (const [domain, hop] of d.routes) {
    const sw = d.routeSwitches.get(domain);
    const notes =
      sw === undefined ? '' : ` (outbound ${sw.outboundMask}, chunking ${sw.chunking}, tls ${sw.tls}${sw.fallback ? '' : ', no fallback'})`;
    out(`route ${domain} -> ${hop.host}:${hop.port}${notes}`);
  }
  out(
    d.smartHost === undefined
      ? 'other domains: MX lookup'
      : `other domains -> smart host ${d.smartHost.host}:${d.smartHost.port}${d.smartHostAuth === undefined ? '' : ' (AUTH)'}`,
  );
  const quirks = store.list();
  if (quirks.length === 0) out('no path quirks remembered');
  for (const q of quirks) out(`quirk ${q.destination} ${q.kind} until ${q.until}: ${q.reason}`);
  return 0;
}
