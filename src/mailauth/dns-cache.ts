/**
 * The DNS lookups of the inbound checks, in mailauth's resolver shape `(name, type) => records`,
 * through Barge's configured servers, with bounded caching. Node's resolver gives no TTL for TXT
 * or MX answers, so answers are kept for a fixed time (capped well below typical SPF/DMARC TTLs)
 * and negative answers for less; the cache holds a bounded number of names.
 */
import { Resolver } from 'node:dns/promises';
import { realClock, type Clock } from '../time/clock.js';

export type MailAuthResolver = (name: string, type: string) => Promise<unknown>;

export interface DnsCacheOptions {
  readonly servers: readonly string[] | undefined;
  /** Per query; each of `tries` waits this long. */
  readonly timeoutMs?: number;
  readonly tries?: number;
  readonly positiveTtlMs?: number;
  readonly negativeTtlMs?: number;
  readonly maxEntries?: number;
  readonly clock?: Clock;
}

interface Entry {
  readonly until: number;
  readonly answer: Promise<unknown>;
}

/** Codes that mean "no such data" (cached briefly); others are failures and never cached. */
const NEGATIVE = new Set(['ENOTFOUND', 'ENODATA']);

export function cachingResolver(options: DnsCacheOptions): MailAuthResolver {
  const resolver = new Resolver({ timeout: options.timeoutMs ?? 2000, tries: options.tries ?? 2 });
  if (options.servers !== undefined) resolver.setServers([...options.servers]);
  const clock = options.clock ?? realClock;
  const now = (): number => clock.now().getTime();
  const positive = options.positiveTtlMs ?? 300_000;
  const negative = options.negativeTtlMs ?? 60_000;
  const max = options.maxEntries ?? 10_000;
  const cache = new Map<string, Entry>();
  return (name, type) => {
    const key = `${type} ${name.toLowerCase()}`;
    const hit = cache.get(key);
    if (hit !== undefined && hit.until > now()) return hit.answer;
    cache.delete(key);
    const answer = resolver.resolve(name, type);
    // Entries are kept in insertion order: the oldest goes first when the cache is full.
    if (cache.size >= max) cache.delete(cache.keys().next().value ?? '');
    cache.set(key, { until: now() + positive, answer });
    answer.catch((e: unknown) => {
      const code = (e as NodeJS.ErrnoException).code ?? '';
      if (NEGATIVE.has(code)) cache.set(key, { until: now() + negative, answer });
      else cache.delete(key);
    });
    return answer;
  };
}
