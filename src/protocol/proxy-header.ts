/**
 * The PROXY protocol header (HAProxy's "The PROXY protocol", versions 1 and 2), which a load
 * balancer sends before anything else on a connection to say whose connection it is. Sans-I/O:
 * bytes in, a typed result out: need more bytes, the header (its addresses and how many bytes it
 * took), or invalid with the reason. Nothing is trusted until the whole header is read and checked,
 * and nothing is buffered past the spec's limits: 107 bytes for version 1 (spec 2.1), and
 * PROXY_V2_MAX_BYTES for version 2, whose TLVs (spec 2.2.7) are skipped unread.
 */
import { formatIpv4, formatIpv6, ipv4Bytes, ipv6Bytes } from './ip-address.js';

/** Spec 2.1: "a receiver ... must not try to read more than 107 bytes" for a version 1 line, CRLF included. */
export const PROXY_V1_MAX_BYTES = 107;
/**
 * A version 2 header with its TLVs may claim up to 16 + 65535 bytes. Addresses take at most 216
 * (spec 2.2); TLVs from cloud load balancers (endpoint ids, TLS facts) take a few hundred more.
 */
export const PROXY_V2_MAX_BYTES = 2048;

/** Spec 2.2: the 12 bytes a version 2 header starts with ("\r\n\r\n\0\r\nQUIT\n"). */
const V2_SIGNATURE = Uint8Array.of(0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a);
const V1_PREFIX = Uint8Array.of(0x50, 0x52, 0x4f, 0x58, 0x59, 0x20); // "PROXY "
const PORT = /^(?:0|[1-9]\d{0,4})$/;

/** The connection as the load balancer received it. */
export interface ProxiedAddresses {
  readonly family: 'ipv4' | 'ipv6';
  /** The client, in canonical spelling (ip-address.ts). */
  readonly source: string;
  readonly sourcePort: number;
  /** The address the client connected to (the load balancer's). */
  readonly destination: string;
  readonly destinationPort: number;
}

export type ProxyHeaderResult =
  | { readonly kind: 'need-more' }
  | {
      readonly kind: 'header';
      readonly version: 1 | 2;
      /** Bytes of the input the header took; the rest belong to the connection's protocol. */
      readonly consumed: number;
      /**
       * Undefined when the header carries no client (v1 UNKNOWN, v2 LOCAL such as a health check,
       * v2 UNSPEC or a UNIX socket): the connection's own addresses apply (spec 2.1, 2.2).
       */
      readonly addresses: ProxiedAddresses | undefined;
    }
  | { readonly kind: 'invalid'; readonly reason: string };

const NEED_MORE: ProxyHeaderResult = { kind: 'need-more' };

/** Reads the header at the start of `bytes` (all bytes received so far on the connection). */
export function parseProxyHeader(bytes: Uint8Array): ProxyHeaderResult {
  if (bytes.length === 0) return NEED_MORE;
  if (bytes[0] === V1_PREFIX[0]) return startsWith(bytes, V1_PREFIX) ? parseV1(bytes) : invalid('not a PROXY protocol header');
  if (bytes[0] === V2_SIGNATURE[0]) return startsWith(bytes, V2_SIGNATURE) ? parseV2(bytes) : invalid('not a PROXY protocol header');
  return invalid('not a PROXY protocol header');
}

/** Whether `bytes` agree with `prefix` as far as both go; false on the first difference. */
function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  for (let i = 0; i < Math.min(bytes.length, prefix.length); i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

function invalid(reason: string): ProxyHeaderResult {
  return { kind: 'invalid', reason };
}

/** Spec 2.1: "PROXY TCP4|TCP6 src dst sport dport\r\n" with single spaces, or "PROXY UNKNOWN...\r\n". */
function parseV1(bytes: Uint8Array): ProxyHeaderResult {
  if (bytes.length < V1_PREFIX.length) return NEED_MORE;
  const window = Math.min(bytes.length, PROXY_V1_MAX_BYTES);
  const lf = bytes.subarray(0, window).indexOf(0x0a);
  if (lf < 0) return bytes.length >= PROXY_V1_MAX_BYTES ? invalid(`v1 header longer than ${PROXY_V1_MAX_BYTES} bytes`) : NEED_MORE;
  if (bytes[lf - 1] !== 0x0d) return invalid('v1 header not ended by CRLF');
  const consumed = lf + 1;
  let line = '';
  for (let i = V1_PREFIX.length; i < lf - 1; i++) line += String.fromCharCode(bytes[i] ?? 0);
  // "UNKNOWN" may be followed by anything up to the CRLF, which the receiver ignores.
  if (line === 'UNKNOWN' || line.startsWith('UNKNOWN ')) return { kind: 'header', version: 1, consumed, addresses: undefined };
  const fields = line.split(' ');
  if (fields.length !== 5) return invalid('v1 header needs protocol, two addresses and two ports');
  const [proto = '', src = '', dst = '', sport = '', dport = ''] = fields;
  if (proto !== 'TCP4' && proto !== 'TCP6') return invalid('v1 header protocol is not TCP4, TCP6 or UNKNOWN');
  const family = proto === 'TCP4' ? 'ipv4' : 'ipv6';
  const parse = family === 'ipv4' ? ipv4Bytes : ipv6Bytes;
  const format = family === 'ipv4' ? formatIpv4 : formatIpv6;
  const source = parse(src);
  const destination = parse(dst);
  if (source === undefined || destination === undefined) return invalid(`v1 header address is not ${family === 'ipv4' ? 'IPv4' : 'IPv6'}`);
  const sourcePort = port(sport);
  const destinationPort = port(dport);
  if (sourcePort === undefined || destinationPort === undefined) return invalid('v1 header port is not 0-65535');
  return {
    kind: 'header',
    version: 1,
    consumed,
    addresses: { family, source: format(source), sourcePort, destination: format(destination), destinationPort },
  };
}

function port(text: string): number | undefined {
  if (!PORT.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

/**
 * Spec 2.2: signature, version and command (0x20 LOCAL, 0x21 PROXY), family and transport, the
 * length of what follows (big-endian), then addresses and TLVs. Only the fixed 16 bytes and the
 * addresses are read; the length is checked against PROXY_V2_MAX_BYTES before waiting for the rest.
 */
function parseV2(bytes: Uint8Array): ProxyHeaderResult {
  if (bytes.length < 16) return NEED_MORE;
  const versionCommand = bytes[12] ?? 0;
  const familyTransport = bytes[13] ?? 0;
  const length = ((bytes[14] ?? 0) << 8) | (bytes[15] ?? 0);
  if (versionCommand >> 4 !== 2) return invalid(`v2 header version ${versionCommand >> 4} is not 2`);
  const command = versionCommand & 0x0f;
  if (command > 1) return invalid(`v2 header command ${command} is neither LOCAL nor PROXY`);
  const total = 16 + length;
  if (total > PROXY_V2_MAX_BYTES) return invalid(`v2 header of ${total} bytes is over the limit of ${PROXY_V2_MAX_BYTES}`);
  // Spec 2.2: families and transports other than these are unspecified and "must be rejected as invalid".
  if (familyTransport >> 4 > 3 || (familyTransport & 0x0f) > 2)
    return invalid(`v2 header family/transport 0x${familyTransport.toString(16)} is unknown`);
  if (bytes.length < total) return NEED_MORE;
  // LOCAL: the proxy's own connection (a health check); the addresses block, whatever it holds, is ignored.
  if (command === 0) return { kind: 'header', version: 2, consumed: total, addresses: undefined };
  switch (familyTransport) {
    case 0x00: // UNSPEC: the proxy does not know the client.
    case 0x31: // A UNIX stream socket: no IP address to use.
      return { kind: 'header', version: 2, consumed: total, addresses: undefined };
    case 0x11: {
      if (length < 12) return invalid('v2 header too short for IPv4 addresses');
      return { kind: 'header', version: 2, consumed: total, addresses: v2Addresses(bytes, 'ipv4', 4) };
    }
    case 0x21: {
      if (length < 36) return invalid('v2 header too short for IPv6 addresses');
      return { kind: 'header', version: 2, consumed: total, addresses: v2Addresses(bytes, 'ipv6', 16) };
    }
    default:
      return invalid(`v2 header family/transport 0x${familyTransport.toString(16).padStart(2, '0')} is not a stream connection`);
  }
}

/** Source address, destination address, source port, destination port, from byte 16. */
function v2Addresses(bytes: Uint8Array, family: 'ipv4' | 'ipv6', size: number): ProxiedAddresses {
  const format = family === 'ipv4' ? formatIpv4 : formatIpv6;
  const ports = 16 + 2 * size;
  return {
    family,
    source: format(bytes, 16),
    destination: format(bytes, 16 + size),
    sourcePort: ((bytes[ports] ?? 0) << 8) | (bytes[ports + 1] ?? 0),
    destinationPort: ((bytes[ports + 2] ?? 0) << 8) | (bytes[ports + 3] ?? 0),
  };
}

/** The outcome of feeding a connection's first reads: the header and the bytes after it, or a refusal. */
export type ProxyHeaderRead =
  | { readonly kind: 'need-more' }
  | { readonly kind: 'header'; readonly version: 1 | 2; readonly addresses: ProxiedAddresses | undefined; readonly rest: Buffer }
  | { readonly kind: 'invalid'; readonly reason: string };

/**
 * Collects a connection's first reads until the header is decided. Holds at most the header's
 * limit plus one read; `rest` is what followed the header in the same reads, handed on intact.
 */
export class ProxyHeaderReader {
  #received: Buffer = Buffer.alloc(0);
  #decided = false;

  push(bytes: Buffer): ProxyHeaderRead {
    if (this.#decided) return { kind: 'invalid', reason: 'PROXY header already read' };
    this.#received = this.#received.length === 0 ? bytes : Buffer.concat([this.#received, bytes]);
    const result = parseProxyHeader(this.#received);
    if (result.kind === 'need-more') return result;
    this.#decided = true;
    const received = this.#received;
    this.#received = Buffer.alloc(0);
    if (result.kind === 'invalid') return result;
    return { kind: 'header', version: result.version, addresses: result.addresses, rest: received.subarray(result.consumed) };
  }

  /** Whether any byte has arrived (a load balancer's TCP health check connects and closes without one). */
  get started(): boolean {
    return this.#decided || this.#received.length > 0;
  }
}
