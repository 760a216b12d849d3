/**
 * Parses one SMTP command line (without its line ending) into a verb and arguments, and the
 * MAIL/RCPT path and ESMTP parameters (RFC 5321 4.1.2, 4.1.1.2, 4.1.1.3). Pure; never throws:
 * syntax problems come back as `{ error }` values for the session to turn into replies.
 */

export interface CommandLine {
  /** Upper-cased verb ("MAIL"); the raw word is kept for logs. */
  readonly verb: string;
  /** Everything after the verb and one space, unchanged. */
  readonly args: string;
}

export function parseCommandLine(line: string): CommandLine {
  const space = line.indexOf(' ');
  const verb = (space < 0 ? line : line.slice(0, space)).toUpperCase();
  const args = space < 0 ? '' : line.slice(space + 1);
  return { verb, args };
}

export interface PathWithParams {
  /** The mailbox without angle brackets; "" for the null reverse-path `<>`. */
  readonly address: string;
  /** ESMTP parameters, keyword upper-cased; value undefined for keywords without "=". */
  readonly params: ReadonlyMap<string, string | undefined>;
  /** Whether the address contains non-ASCII octets (needs SMTPUTF8, RFC 6531 3.3). */
  readonly utf8: boolean;
}

export type Parsed<T> = { readonly ok: T } | { readonly error: string; readonly enhanced?: string };

// RFC 5321 4.1.2 atoms, relaxed for UTF-8 (RFC 6531 3.3: atext extended with UTF8-non-ascii).
const ATOM = "[A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~\\u0080-\\uFFFF]+";
const DOT_STRING = `${ATOM}(?:\\.${ATOM})*`;
const QUOTED = '"(?:[\\x20\\x21\\x23-\\x5B\\x5D-\\x7E\\u0080-\\uFFFF]|\\\\[\\x20-\\x7E])*"';
const LABEL = '[A-Za-z0-9\\u0080-\\uFFFF](?:[A-Za-z0-9\\-\\u0080-\\uFFFF]*[A-Za-z0-9\\u0080-\\uFFFF])?';
const DOMAIN = `${LABEL}(?:\\.${LABEL})*\\.?`;
const ADDRESS_LITERAL = '\\[(?:[0-9.]+|IPv6:[0-9A-Fa-f:.]+|[A-Za-z0-9-]*[A-Za-z0-9]:[\\x21-\\x5A\\x5E-\\x7E]+)\\]';
const MAILBOX = new RegExp(`^(?:${DOT_STRING}|${QUOTED})@(?:${DOMAIN}|${ADDRESS_LITERAL})$`);
const LOCAL_ONLY = /^postmaster$/i;
const NON_ASCII = /[^\x00-\x7F]/;

/**
 * Parses "FROM:<path> params" / "TO:<path> params". Tolerates a space after the colon and a bare
 * address without brackets, as many real clients send them; strips an RFC 5321 4.1.1.3 source route.
 */
export function parsePathArgument(args: string, keyword: 'FROM' | 'TO'): Parsed<PathWithParams> {
  const prefix = `${keyword}:`;
  if (args.slice(0, prefix.length).toUpperCase() !== prefix) {
    return { error: `expected ${keyword}:<address>`, enhanced: '5.5.2' };
  }
  let rest = args.slice(prefix.length).trimStart();
  let path: string;
  if (rest.startsWith('<')) {
    const close = findClosingBracket(rest);
    if (close < 0) return { error: 'missing ">"', enhanced: '5.5.2' };
    path = rest.slice(1, close);
    rest = rest.slice(close + 1);
    if (rest.length > 0 && !rest.startsWith(' ')) return { error: 'garbage after ">"', enhanced: '5.5.2' };
  } else {
    const space = rest.indexOf(' ');
    path = space < 0 ? rest : rest.slice(0, space);
    rest = space < 0 ? '' : rest.slice(space);
  }
  const route = /^@[^:]*:/.exec(path);
  if (route) path = path.slice(route[0].length);

  const params = parseParams(rest.trim());
  if ('error' in params) return params;
  const address = path;
  if (address === '') {
    if (keyword === 'TO') return { error: 'empty recipient', enhanced: '5.1.3' };
  } else if (!MAILBOX.test(address) && !(keyword === 'TO' && LOCAL_ONLY.test(address))) {
    return { error: `<${address}>`, enhanced: keyword === 'FROM' ? '5.1.7' : '5.1.3' };
  }
  const tooLong = lengthError(address);
  if (tooLong !== undefined) return { error: tooLong, enhanced: keyword === 'FROM' ? '5.1.7' : '5.1.3' };
  return { ok: { address, params: params.ok, utf8: NON_ASCII.test(address) } };
}

/**
 * RFC 5321 4.5.3.1.1-3 limits, counted in octets (a UTF-8 character is up to 4): local-part 64,
 * domain 255, path 256 including the angle brackets, so the address itself at most 254.
 */
export function lengthError(address: string): string | undefined {
  const at = address.lastIndexOf('@');
  const octets = (s: string): number => Buffer.byteLength(s, 'utf8');
  if (at >= 0 && octets(address.slice(0, at)) > 64) return 'local-part longer than 64 octets (RFC 5321 4.5.3.1.1)';
  if (at >= 0 && octets(address.slice(at + 1)) > 255) return 'domain longer than 255 octets (RFC 5321 4.5.3.1.2)';
  if (octets(address) + 2 > 256) return 'path longer than 256 octets (RFC 5321 4.5.3.1.3)';
  return undefined;
}

function findClosingBracket(s: string): number {
  let quoted = false;
  for (let i = 1; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && quoted) i++;
    else if (c === '"') quoted = !quoted;
    else if (c === '>' && !quoted) return i;
  }
  return -1;
}

const PARAM = /^([A-Za-z0-9][A-Za-z0-9-]*)(?:=([\x21-\x3C\x3E-\x7E\u0080-\uFFFF]*))?$/;

export function parseParams(text: string): Parsed<ReadonlyMap<string, string | undefined>> {
  const params = new Map<string, string | undefined>();
  if (text === '') return { ok: params };
  for (const word of text.split(/ +/)) {
    const m = PARAM.exec(word);
    if (!m || m[1] === undefined) return { error: `bad parameter "${word}"`, enhanced: '5.5.4' };
    const key = m[1].toUpperCase();
    if (params.has(key)) return { error: `duplicate parameter ${key}`, enhanced: '5.5.4' };
    params.set(key, m[2]);
  }
  return { ok: params };
}

/**
 * Decodes RFC 3461 4 xtext ("+XX" hex escapes); undefined when malformed. The escapes are octets,
 * read as UTF-8 (RFC 6533 3), the inverse of encodeXtext: "+C3+A9" is "\u00e9", not two Latin-1 characters.
 */
export function decodeXtext(text: string): string | undefined {
  const octets: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2b) {
      const hex = text.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) return undefined;
      octets.push(parseInt(hex, 16));
      i += 2;
    } else if (c < 0x21 || c > 0x7e || c === 0x3d) {
      return undefined;
    } else {
      octets.push(c);
    }
  }
  return Buffer.from(octets).toString('utf8');
}

/** Encodes a string as RFC 3461 xtext (for passing ORCPT/ENVID on). */
export function encodeXtext(text: string): string {
  let out = '';
  for (const ch of Buffer.from(text, 'utf8')) {
    out +=
      ch < 0x21 || ch > 0x7e || ch === 0x2b || ch === 0x3d ? `+${ch.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(ch);
  }
  return out;
}

/** Parses "BDAT <size> [LAST]" (RFC 3030 2). */
export function parseBdatArgs(args: string): { size: number; last: boolean } | undefined {
  const m = /^(\d{1,15})(?: +(LAST))? *$/i.exec(args);
  if (!m || m[1] === undefined) return undefined;
  return { size: Number(m[1]), last: m[2] !== undefined };
}

/** Domain of an address, lower-cased; "" for the null path. */
export function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0
    ? ''
    : address
        .slice(at + 1)
        .toLowerCase()
        .replace(/\.$/, '');
}

export function localPartOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? address : address.slice(0, at);
}
