/**
 * DATA transparency for the client (RFC 5321 4.5.2), sans I/O: a leading "." on any line is doubled,
 * and the end of data is "CRLF.CRLF" (a CRLF is added first when the message does not end with one).
 * Stateful across chunks, so it can stream a message of any size. BDAT content is never stuffed.
 */
const DOT = 0x2e;
const LF = 0x0a;
const CR = 0x0d;

export class DotStuffer {
  /** True when the next byte starts a line (the message start counts). */
  #lineStart = true;
  // An empty message needs no CRLF before the final dot.
  #lastTwo = [CR, LF];

  stuff(chunk: Buffer): Buffer {
    if (chunk.length === 0) return chunk;
    const parts: Buffer[] = [];
    let from = 0;
    if (this.#lineStart && chunk[0] === DOT) parts.push(Buffer.from('.'));
    for (let i = chunk.indexOf(LF); i >= 0 && i + 1 < chunk.length; i = chunk.indexOf(LF, i + 1)) {
      if (chunk[i + 1] === DOT) {
        parts.push(chunk.subarray(from, i + 1), Buffer.from('.'));
        from = i + 1;
      }
    }
    parts.push(chunk.subarray(from));
    this.#lineStart = chunk[chunk.length - 1] === LF;
    this.#lastTwo = chunk.length >= 2 ? [chunk[chunk.length - 2] ?? 0, chunk[chunk.length - 1] ?? 0] : [this.#lastTwo[1] ?? 0, chunk[0] ?? 0];
    return parts.length === 1 ? chunk : Buffer.concat(parts);
  }

  /** The end-of-data sequence to send after the last chunk. */
  end(): Buffer {
    const endsWithCrlf = this.#lastTwo[0] === CR && this.#lastTwo[1] === LF;
    return Buffer.from(endsWithCrlf ? '.\r\n' : '\r\n.\r\n');
  }
}
