/**
 * Counts the `Received:` trace fields in a message's header section while the message streams
 * (RFC 5321 6.3: a simple counter of these fields detects loops; Postfix's hopcount_limit, Exim's
 * received_headers_max). Pure and stateful across chunks: a field name split between two chunks is
 * still seen. It stops at the end of the header section (an empty line, or a line that cannot be a
 * header field, RFC 5322 2.2), so the body costs nothing.
 *
 * A bare LF counts as a line end here: it may over-count a smuggled header, never under-count one.
 */
const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;
/** Enough of a line's start to see "Received" and a few spaces before its colon. */
const PREFIX = 32;
const RECEIVED = /^received[ \t]*:/i;

export class HopCounter {
  #count = 0;
  #done = false;
  /** The first bytes of the line being read (up to PREFIX), and how long the line is so far. */
  // Never read past #prefixLength, so its initial octets do not matter (allocUnsafe: from the shared pool).
  #prefix = Buffer.allocUnsafe(PREFIX);
  #prefixLength = 0;
  #lineLength = 0;

  /** Received: fields seen so far. */
  get count(): number {
    return this.#count;
  }

  /** True once the header section has ended: further bytes are ignored. */
  get done(): boolean {
    return this.#done;
  }

  feed(bytes: Buffer): void {
    let pos = 0;
    while (!this.#done && pos < bytes.length) {
      const lf = bytes.indexOf(LF, pos);
      const end = lf < 0 ? bytes.length : lf;
      if (this.#prefixLength < PREFIX) {
        const take = Math.min(PREFIX - this.#prefixLength, end - pos);
        bytes.copy(this.#prefix, this.#prefixLength, pos, pos + take);
        this.#prefixLength += take;
      }
      this.#lineLength += end - pos;
      if (lf < 0) return;
      this.#endLine();
      pos = lf + 1;
    }
  }

  #endLine(): void {
    const line = this.#prefix.subarray(0, this.#prefixLength);
    const complete = this.#lineLength <= PREFIX;
    const empty = this.#lineLength === 0 || (this.#lineLength === 1 && line[0] === CR);
    this.#prefixLength = 0;
    this.#lineLength = 0;
    if (empty) return void (this.#done = true);
    const first = line[0];
    if (first === SP || first === HTAB) return; // a folded continuation (RFC 5322 2.2.3)
    const colon = line.indexOf(COLON);
    if (colon < 0 && complete) return void (this.#done = true); // not a header field: the body has begun
    if (colon >= 0 && RECEIVED.test(line.toString('latin1', 0, colon + 1))) this.#count++;
  }
}
