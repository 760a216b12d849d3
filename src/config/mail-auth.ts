/** The mail authentication settings of the configuration file: DKIM keys and per-listener inbound policy. */
import { isAbsolute, join } from 'node:path';
import type { DkimKeyConfig, InboundAuthPolicy } from './types.js';
import { DEFAULTS } from './defaults.js';
import type { FileConfig, ListenerInput } from './schema.js';

export function dkimKeys(table: FileConfig['dkim'], dataDir: string): ReadonlyMap<string, readonly DkimKeyConfig[]> {
  const out = new Map<string, DkimKeyConfig[]>();
  for (const [domain, entry] of Object.entries(table ?? {})) {
    const keys = (Array.isArray(entry) ? entry : [entry]).map((k) => ({
      selector: k.selector,
      keyFile: isAbsolute(k.key) ? k.key : join(dataDir, k.key),
      algorithm: k.algorithm,
      headers: (k.headers ?? DEFAULTS.dkimHeaders).map((h) => h.toLowerCase()),
    }));
    out.set(domain.toLowerCase(), keys);
  }
  return out;
}

export function inboundAuthPolicy(l: ListenerInput): InboundAuthPolicy {
  return { enabled: l.mail_auth ?? true, dmarc: l.dmarc_policy ?? 'tag', spfFail: l.spf_fail ?? 'tag' };
}
