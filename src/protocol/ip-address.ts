/**
 * IP addresses as text and as network-order bytes, for peers that send addresses (the PROXY
 * protocol header): strict parsing of the text forms, and one canonical spelling out, so the same
 * client is one key for per-address limits and lockouts however the sender wrote it. Pure: no sockets.
 */

/** Dotted decimal, four octets, no leading zeros (an "010" could be read as octal elsewhere). */
const IPV4 =
  /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const GROUP = /^[0-9A-Fa-f]{1,4}$/;

/** The 4 octets of a dotted-decimal IPv4 address, or undefined. */
export function ipv4Bytes(text: string): Uint8Array | undefined {
  const m = IPV4.exec(text);
  if (m === null) return undefined;
  return Uint8Array.of(Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4]));
}

/** The 16 octets of an IPv6 address in an RFC 4291 2.2 text form (groups, "::", a trailing IPv4), or undefined. */
export function ipv6Bytes(text: string): Uint8Array | undefined {
  if (text.length < 2 || text.length > 45) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parsed = halves.map((h, i) => groupsOf(h, i === halves.length - 1));
  const [head, tail = []] = parsed;
  if (head === undefined || parsed.some((p) => p === undefined)) return undefined;
  const count = head.length + tail.length;
  // Without "::" there are eight groups; "::" stands for at least one group of zeros.
  if (halves.length === 1 ? count !== 8 : count > 7) return undefined;
  const words = [...head, ...new Array<number>(8 - count).fill(0), ...tail];
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/** 16-bit groups of one side of "::"; the last side may end in an IPv4 address (two groups). */
function groupsOf(text: string, mayEndInIpv4: boolean): number[] | undefined {
  if (text === '') return [];
  const parts = text.split(':');
  const words: number[] = [];
  for (const [i, part] of parts.entries()) {
    const v4 = mayEndInIpv4 && i === parts.length - 1 ? ipv4Bytes(part) : undefined;
    if (v4 !== undefined) words.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
    else if (GROUP.test(part)) words.push(Number.parseInt(part, 16));
    else return undefined;
  }
  return words;
}

/** Dotted decimal of the 4 octets at `offset`. */
export function formatIpv4(bytes: Uint8Array, offset = 0): string {
  return `${bytes[offset] ?? 0}.${bytes[offset + 1] ?? 0}.${bytes[offset + 2] ?? 0}.${bytes[offset + 3] ?? 0}`;
}

/**
 * The RFC 5952 spelling of the 16 octets at `offset`: lower case, no leading zeros, the longest run
 * of two or more zero groups (the first of equals) as "::" (4.2), and an IPv4-mapped address with
 * its IPv4 part in dotted decimal (5), as sockets report such clients.
 */
export function formatIpv6(bytes: Uint8Array, offset = 0): string {
  const words = Array.from({ length: 8 }, (_, i) => ((bytes[offset + 2 * i] ?? 0) << 8) | (bytes[offset + 2 * i + 1] ?? 0));
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) return `::ffff:${formatIpv4(bytes, offset + 12)}`;
  let best = { start: -1, length: 1 };
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > best.length) best = { start: i, length: j - i };
    i = j === i ? i + 1 : j;
  }
  const hex = (ws: number[]): string => ws.map((w) => w.toString(16)).join(':');
  if (best.start < 0) return hex(words);
  return `${hex(words.slice(0, best.start))}::${hex(words.slice(best.start + best.length))}`;
}
