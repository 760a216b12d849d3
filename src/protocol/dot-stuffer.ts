/**
 * DATA transparency for the client (RFC 5321 4.5.2), sans I/O: a leading "." on any line is doubled,
 * and the end of data is "CRLF.CRLF" (a CRLF is added first when the message does not end with one).
 * A bare CR or bare LF becomes CRLF (RFC 5321 2.3.8): content received by BDAT may hold them, and
 * passed on inside DATA they are an SMTP smuggling vector. Stateful across chunks (a CR that ends one
 * chunk waits for the next), so it can stream a message of any size. BDAT content is never stuffed.
 */
const DOT = 0x2e;
const LF = 0x0a;
const CR = 0x0d;
const CRLF = Buffer.from('\r\n');
const DOT_BUFFER = Buffer.from('.');

export class DotStuffer {
  /** True when the next byte starts a line (the message start counts). */
  #lineStart = true;
  /** The previous chunk ended with a CR: a CRLF whatever follows (the LF, if it comes, is part of it). */
  #heldCr = false;

  stuff(chunk: Buffer): Buffer {
    if (chunk.length === 0) return chunk;
    const parts: Buffer[] = [];
    let pos = 0;
    if (this.#heldCr) {
      this.#heldCr = false;
      parts.push(CRLF);
      if (chunk[0] === LF) pos = 1;
      this.#lineStart = true;
    }
    let segment = pos; // start of bytes passed through unchanged
    let nextCr = -2;
    let nextLf = -2;
    while (pos < chunk.length) {
      if (this.#lineStart) {
        this.#lineStart = false;
        if (chunk[pos] === DOT) {
          parts.push(chunk.subarray(segment, pos), DOT_BUFFER);
          segment = pos;
        }
      }
      // Cached positions keep a long run of one kind of line end linear.
      if (nextCr !== -1 && nextCr < pos) nextCr = chunk.indexOf(CR, pos);
      if (nextLf !== -1 && nextLf < pos) nextLf = chunk.indexOf(LF, pos);
      const next = nextCr === -1 ? nextLf : nextLf === -1 ? nextCr : Math.min(nextCr, nextLf);
      if (next === -1) break;
      this.#lineStart = true;
      if (chunk[next] === CR && next + 1 === chunk.length) {
        parts.push(chunk.subarray(segment, next));
        segment = chunk.length;
        this.#lineStart = false;
        this.#heldCr = true;
        break;
      }
      if (chunk[next] === CR && chunk[next + 1] === LF) {
        pos = next + 2;
        continue;
      }
      // A bare CR or bare LF.
      parts.push(chunk.subarray(segment, next), CRLF);
      segment = pos = next + 1;
    }
    if (segment === 0 && parts.length === 0) return chunk;
    if (segment < chunk.length) parts.push(chunk.subarray(segment));
    return Buffer.concat(parts);
  }

  /** The end-of-data sequence to send after the last chunk. */
  end(): Buffer {
    if (this.#heldCr) return Buffer.from('\r\n.\r\n');
    // An empty message needs no CRLF before the final dot.
    return Buffer.from(this.#lineStart ? '.\r\n' : '\r\n.\r\n');
  }
}
