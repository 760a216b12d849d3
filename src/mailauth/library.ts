/**
 * mailauth, loaded on first use. It is large (its public suffix list, DNS and crypto code, and
 * Node's fetch, which it pulls in, take about 20 MB of a server's resident set), and a server whose
 * mail never needs an SPF, DKIM or DMARC check or an MTA-STS lookup never needs it: mail from the
 * relay networks or from authenticated clients is not checked, and routes and smart hosts skip MTA-STS.
 */
import type { authenticate } from 'mailauth';
import type { spf } from 'mailauth/lib/spf/index.js';
import type { parsePolicy, resolvePolicy } from 'mailauth/lib/mta-sts.js';

export interface InboundChecks {
  readonly authenticate: typeof authenticate;
  readonly spf: typeof spf;
}

export interface MtaStsParts {
  readonly resolvePolicy: typeof resolvePolicy;
  readonly parsePolicy: typeof parsePolicy;
}

let checks: Promise<InboundChecks> | undefined;
let mtaSts: Promise<MtaStsParts> | undefined;

/** SPF, DKIM and DMARC verification (RFC 7208, 6376, 7489), loaded once: in the check worker, never on the event loop. */
export function inboundChecks(): Promise<InboundChecks> {
  checks ??= Promise.all([import('mailauth'), import('mailauth/lib/spf/index.js')]).then(([m, s]) => ({
    authenticate: m.authenticate,
    spf: s.spf,
  }));
  return checks;
}

/** MTA-STS discovery and policy parsing (RFC 8461 3), loaded once. */
export function mtaStsParts(): Promise<MtaStsParts> {
  mtaSts ??= import('mailauth/lib/mta-sts.js').then((m) => ({ resolvePolicy: m.resolvePolicy, parsePolicy: m.parsePolicy }));
  return mtaSts;
}
