/**
 * DKIM "relaxed" canonicalisation (RFC 6376 3.4.2 and 3.4.4).
 * Pure functions over bytes (latin1 strings keep every octet as one character).
 */
import { createHash, type Hash } from 'node:crypto';

/** RFC 6376 3.4.2: lower-case name, unfolded value, runs of WSP as one SP, no WSP around the colon. */
export function relaxedHeader(raw: string): string {
  const colon = raw.indexOf(':');
  const name = raw.slice(0, colon).trim().toLowerCase();
  const value = raw
    .slice(colon + 1)
    .replace(/\r?\n/g, '')
    .replace(/[ \t]+/g, ' ')
    .trim();
  return `${name}:${value}`;
}

/**
 * The body hash under "relaxed" body canonicalisation (RFC 6376 3.4.4), fed in pieces: WSP at line
 * ends dropped, runs of WSP made one SP, empty lines at the end ignored, a non-empty body ends in CRLF.
 */
export class RelaxedBodyHash {
  readonly #hash: Hash;
  #rest = '';
  #emptyLines = 0;

  constructor(algorithm: 'sha256' = 'sha256') {
    this.#hash = createHash(algorithm);
  }

  update(bytes: Buffer): void {
    const text = this.#rest + bytes.toString('latin1');
    const lines = text.split('\n');
    this.#rest = lines.pop() ?? '';
    for (const line of lines) this.#line(line.endsWith('\r') ? line.slice(0, -1) : line);
  }

  digest(): string {
    if (this.#rest !== '') this.#line(this.#rest);
    this.#rest = '';
    return this.#hash.digest('base64');
  }

  #line(line: string): void {
    const canonical = line.replace(/[ \t]+/g, ' ').replace(/ $/, '');
    if (canonical === '') {
      this.#emptyLines++;
      return;
    }
    if (this.#emptyLines > 0) this.#hash.update('\r\n'.repeat(this.#emptyLines), 'latin1');
    this.#emptyLines = 0;
    this.#hash.update(`${canonical}\r\n`, 'latin1');
  }
}
