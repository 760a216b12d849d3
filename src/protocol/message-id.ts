/**
 * Finds a message's Message-ID (RFC 5322 3.6.4) while its bytes stream past, for the tracking log.
 * Only the header section is kept, and at most MAX_HEADER_BYTES of it, so memory stays bounded
 * whatever the message; a folded header field (RFC 5322 2.2.3) is unfolded first.
 */
const MAX_HEADER_BYTES = 64 * 1024;
const END_OF_HEADER = Buffer.from('\r\n\r\n');

export class MessageIdScanner {
  readonly #parts: Buffer[] = [];
  #length = 0;
  /** The last three bytes kept, so an end of header split across pushes is seen. */
  #tail = Buffer.alloc(0);
  #done = false;

  push(bytes: Buffer): void {
    if (this.#done) return;
    // A copy: the caller's buffer may be reused after this call.
    const part = Buffer.from(bytes.subarray(0, MAX_HEADER_BYTES - this.#length));
    this.#parts.push(part);
    this.#length += part.length;
    const seam = Buffer.concat([this.#tail, part]);
    this.#tail = seam.subarray(Math.max(0, seam.length - 3));
    if (this.#length >= MAX_HEADER_BYTES || seam.includes(END_OF_HEADER)) this.#done = true;
  }

  /** The Message-ID's value with its angle brackets, or undefined. */
  messageId(): string | undefined {
    const text = Buffer.concat(this.#parts).toString('latin1');
    const end = text.indexOf('\r\n\r\n');
    const header = `\r\n${end < 0 ? text : text.slice(0, end)}`.replace(/\r\n[ \t]+/g, ' ');
    return /\r\nmessage-id:[ \t]*(<[^>\r\n]{1,990}>)/i.exec(header)?.[1];
  }
}
