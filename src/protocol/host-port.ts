/**
 * HOST:PORT, written once for every place that takes one (listeners, routes, smart host, `barge
 * send --server`, `barge probe`, `barge middlebox`). An IPv6 address goes in brackets when a port
 * follows ("[::1]:2525", as in URIs, RFC 3986 3.2.2); a bare IPv6 address ("::1") is accepted only
 * where the port may be left out. Pure: no name resolution, no sockets.
 */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export interface HostPortRules {
  /** The port when none is written; without it a port is required. */
  readonly defaultPort?: number;
  /** Port 0 (any free port) is allowed: for listeners, not for peers. */
  readonly allowZero?: boolean;
}

const FORM = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+))(?::(\d{1,5}))?$/;
const GROUP = /^[0-9A-Fa-f]{1,4}$/;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)$/;

/** RFC 4291 2.2 text forms: eight groups, or fewer around one "::", perhaps ending in an IPv4 address. */
export function isIPv6(text: string): boolean {
  const halves = text.split('::');
  if (halves.length > 2) return false;
  const groups = halves.flatMap((h) => (h === '' ? [] : h.split(':')));
  const last = groups[groups.length - 1] ?? '';
  const width = IPV4.test(last) ? groups.length + 1 : groups.length;
  const hex = IPV4.test(last) ? groups.slice(0, -1) : groups;
  if (!hex.every((g) => GROUP.test(g))) return false;
  return halves.length === 2 ? width <= 7 : width === 8;
}

export function parseHostPort(text: string, rules: HostPortRules = {}): HostPort | undefined {
  const trimmed = text.trim();
  const m = FORM.exec(trimmed);
  if (m === null) {
    return rules.defaultPort !== undefined && isIPv6(trimmed) ? { host: trimmed, port: rules.defaultPort } : undefined;
  }
  const host = m[1] ?? m[2] ?? '';
  if (m[1] !== undefined && !isIPv6(m[1])) return undefined;
  const port = m[3] === undefined ? rules.defaultPort : Number(m[3]);
  if (host === '' || port === undefined || port > 65535 || (port === 0 && rules.allowZero !== true)) return undefined;
  return { host, port };
}

/** The inverse: "[::1]:25" for IPv6, "mx.example:25" otherwise. */
export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}
