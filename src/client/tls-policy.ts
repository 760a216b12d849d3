/**
 * MTA-STS (RFC 8461): per destination domain, whether mail must go over verified TLS and to which
 * MX hosts. The `_mta-sts` TXT record announces a policy id (3.1); the policy is fetched from
 * https://mta-sts.DOMAIN/.well-known/mta-sts.txt with a valid certificate and no redirects (3.3),
 * cached for its max_age and refetched when the id changes (5.1). An "enforce" policy allows only
 * the MX hosts it names, over TLS with a certificate valid for the MX name (4); "testing" changes
 * nothing but is reported. Discovery failures without a cached policy mean no policy (RFC 8461 5:
 * fail open; the next attempt asks again). Routes and smart hosts are not subject to MTA-STS.
 */
import { request } from 'node:https';
import { mtaStsParts } from '../mailauth/library.js';
import type { NextHop } from './routes.js';
import { realClock, type Clock } from '../time/clock.js';

export type Lookup = (name: string, type: string) => Promise<unknown>;

export interface MtaStsPolicy {
  readonly id: string;
  readonly mode: 'enforce' | 'testing' | 'none';
  readonly mx: readonly string[];
  readonly maxAgeS: number;
}

/** What delivery to one domain must respect. */
export type TlsRequirement =
  /** No policy; `note` says why when discovery failed (TLS-RPT reports those). */
  | { readonly kind: 'none'; readonly note?: string }
  | {
      readonly kind: 'mta-sts';
      readonly policy: MtaStsPolicy;
      /** MX hosts the policy allows (all of them in testing mode), in preference order. */
      readonly hops: readonly NextHop[];
      /** MX names the policy does not allow. */
      readonly excluded: readonly string[];
      /** Enforce: STARTTLS with a certificate valid for the MX name, never clear text. */
      readonly verifiedTls: boolean;
      /** Trust anchors for that verification (a private CA); undefined: the system's. */
      readonly ca: readonly string[] | undefined;
    };

export interface MtaStsOptions {
  readonly lookup: Lookup;
  /** Trust anchors for the policy host and MX certificates; undefined: the system's. */
  readonly ca?: readonly string[];
  /** The policy host's port: 443 (RFC 8461 3.3); another only in tests. */
  readonly port?: number;
  readonly timeoutMs?: number;
  /** Policy ages (max_age); the real clock when unset. */
  readonly clock?: Clock;
}

/** RFC 8461 3.2: a policy larger than 64 KB is not read. */
const MAX_POLICY_BYTES = 64 * 1024;
const MAX_CACHED = 10_000;

/** RFC 8461 4.1: a literal name, or "*." matching exactly one leftmost label. */
export function mxMatches(host: string, patterns: readonly string[]): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  return patterns.some((p) => {
    const pattern = p.toLowerCase().replace(/\.$/, '');
    if (!pattern.startsWith('*.')) return pattern === name;
    const dot = name.indexOf('.');
    return dot > 0 && name.slice(dot) === pattern.slice(1);
  });
}

export class MtaSts {
  readonly #o: MtaStsOptions;
  readonly #cache = new Map<string, { policy: MtaStsPolicy; expires: number }>();

  constructor(options: MtaStsOptions) {
    this.#o = options;
  }

  /** The requirement for delivering to `domain` through these MX hops. */
  async requirement(domain: string, hops: readonly NextHop[]): Promise<TlsRequirement> {
    const found = await this.policy(domain);
    if ('none' in found) return { kind: 'none' };
    if ('note' in found) return { kind: 'none', note: found.note };
    const { policy } = found;
    if (policy.mode === 'none') return { kind: 'none', note: `MTA-STS policy ${policy.id} is mode none` };
    const allowed = hops.filter((h) => mxMatches(h.name, policy.mx));
    const excluded = [...new Set(hops.filter((h) => !allowed.includes(h)).map((h) => h.name))];
    const enforce = policy.mode === 'enforce';
    return { kind: 'mta-sts', policy, hops: enforce ? allowed : hops, excluded, verifiedTls: enforce, ca: this.#o.ca };
  }

  /** The domain's current policy (cached, refreshed as RFC 8461 5.1 says), or why there is none. */
  async policy(domain: string): Promise<{ policy: MtaStsPolicy } | { note: string } | { none: true }> {
    const now = (this.#o.clock ?? realClock).now().getTime();
    const cached = this.#cache.get(domain);
    const valid = cached !== undefined && cached.expires > now ? cached.policy : undefined;
    const { resolvePolicy, parsePolicy } = await mtaStsParts();
    let id: string | false;
    try {
      id = await resolvePolicy(domain, { resolver: this.#o.lookup });
    } catch (e) {
      return valid === undefined ? { note: `MTA-STS TXT lookup failed: ${String(e)}` } : { policy: valid };
    }
    if (id === false) return valid === undefined ? { none: true } : { policy: valid };
    if (valid !== undefined && valid.id === id) return { policy: valid };
    try {
      const text = await this.#fetch(domain);
      const parsed = parsePolicy(text);
      const policy: MtaStsPolicy = { id, mode: parsed.mode, mx: parsed.mx ?? [], maxAgeS: parsed.maxAge };
      if (this.#cache.size >= MAX_CACHED) this.#cache.delete(this.#cache.keys().next().value ?? '');
      this.#cache.set(domain, { policy, expires: now + policy.maxAgeS * 1000 });
      return { policy };
    } catch (e) {
      // RFC 8461 5.1: a fetch failure keeps a cached policy in force.
      return valid === undefined
        ? { note: `MTA-STS policy fetch failed: ${e instanceof Error ? e.message : String(e)}` }
        : { policy: valid };
    }
  }

  async #fetch(domain: string): Promise<string> {
    const servername = `mta-sts.${domain}`;
    const addresses = (await this.#o.lookup(servername, 'A').catch(() => this.#o.lookup(servername, 'AAAA'))) as string[];
    const host = addresses[0];
    if (host === undefined) throw new Error(`${servername} has no address`);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host,
          port: this.#o.port ?? 443,
          servername,
          path: '/.well-known/mta-sts.txt',
          method: 'GET',
          headers: { host: servername },
          rejectUnauthorized: true,
          ...(this.#o.ca === undefined ? {} : { ca: [...this.#o.ca] }),
          timeout: this.#o.timeoutMs ?? 10_000,
        },
        (res) => {
          // RFC 8461 3.3: redirects are not followed; only a 200 with text/plain is a policy.
          const refuse = (why: string): void => {
            res.resume();
            reject(new Error(why));
          };
          if (res.statusCode !== 200) return refuse(`HTTP ${res.statusCode ?? '?'} from ${servername}`);
          if (!/^text\/plain\b/i.test(res.headers['content-type'] ?? '')) return refuse('policy is not text/plain');
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_POLICY_BYTES) req.destroy(new Error('policy larger than 64 KB'));
            else chunks.push(c);
          });
          res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer from ${servername} in time`)));
      req.on('error', reject);
      req.end();
    });
  }
}

/** One line for logs and the tracking log (TLS-RPT's policy fields, RFC 8460 4.4). */
export function describeRequirement(r: TlsRequirement): string {
  if (r.kind === 'none') return `no TLS policy${r.note === undefined ? '' : ` (${r.note})`}`;
  const excluded = r.excluded.length === 0 ? '' : `; MX not in policy: ${r.excluded.join(' ')}`;
  return `MTA-STS ${r.policy.mode} id ${r.policy.id} mx ${r.policy.mx.join(' ')}${r.verifiedTls ? '; verified TLS required' : ''}${excluded}`;
}
