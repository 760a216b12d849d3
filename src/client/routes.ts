/**
 * Where mail for a domain goes (RFC 5321 5.1): a configured route (like a transport map), else the
 * smart host, else the domain's MX records by preference, else its A/AAAA records when it has no MX.
 * A null MX (RFC 7505) means the domain accepts no mail. The resolver is injected so tests use a
 * DNS server on loopback.
 */
import type { MxRecord } from 'node:dns';

export interface NextHop {
  /** Host name or IP address to connect to. */
  readonly host: string;
  readonly port: number;
  /** For logs and DSNs: the MX or route name the address came from. */
  readonly name: string;
  /** The MX preference the hop came from; none for routes, the smart host and A/AAAA fallback. */
  readonly preference?: number;
}

export type Route =
  | { readonly kind: 'hops'; readonly hops: readonly NextHop[] }
  | { readonly kind: 'fail'; readonly permanent: boolean; readonly status: string; readonly detail: string };

/** The subset of node:dns/promises Resolver the router uses. */
export interface DnsResolver {
  resolveMx(name: string): Promise<MxRecord[]>;
  resolve4(name: string): Promise<string[]>;
  resolve6(name: string): Promise<string[]>;
}

export interface RoutingTable {
  /** Port for hops found in DNS. */
  readonly port: number;
  /** Per-domain next hops ("example.com" -> mx.internal:25). */
  readonly routes: ReadonlyMap<string, { readonly host: string; readonly port: number }>;
  readonly smartHost: { readonly host: string; readonly port: number } | undefined;
}

export async function route(domain: string, table: RoutingTable, dns: DnsResolver): Promise<Route> {
  const fixed = table.routes.get(domain) ?? table.smartHost;
  if (fixed !== undefined) return { kind: 'hops', hops: [{ host: fixed.host, port: fixed.port, name: fixed.host }] };
  let mx: MxRecord[];
  try {
    mx = await dns.resolveMx(domain);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTFOUND')
      return { kind: 'fail', permanent: true, status: '5.1.2', detail: `domain ${domain} does not exist (NXDOMAIN)` };
    if (code !== 'ENODATA')
      return { kind: 'fail', permanent: false, status: '4.4.3', detail: `MX lookup for ${domain} failed: ${code ?? String(e)}` };
    mx = [];
  }
  // RFC 7505: a single MX of "." means "no mail here".
  if (mx.length === 1 && (mx[0]?.exchange === '' || mx[0]?.exchange === '.')) {
    return { kind: 'fail', permanent: true, status: '5.1.10', detail: `${domain} publishes a null MX and accepts no mail (RFC 7505)` };
  }
  const byPreference = [...mx].sort((a, b) => a.priority - b.priority);
  const names: Array<{ name: string; preference?: number }> =
    mx.length === 0 ? [{ name: domain }] : byPreference.map((r) => ({ name: r.exchange.replace(/\.$/, ''), preference: r.priority }));
  const hops: NextHop[] = [];
  let lastError = '';
  for (const { name, preference } of names) {
    for (const lookup of [dns.resolve4.bind(dns), dns.resolve6.bind(dns)]) {
      try {
        for (const address of await lookup(name))
          hops.push({ host: address, port: table.port, name, ...(preference === undefined ? {} : { preference }) });
      } catch (e) {
        lastError = `${name}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`;
      }
    }
  }
  if (hops.length > 0) return { kind: 'hops', hops };
  return {
    kind: 'fail',
    permanent: false,
    status: '4.4.4',
    detail: `no address for the mail servers of ${domain} (${lastError || 'none'})`,
  };
}
