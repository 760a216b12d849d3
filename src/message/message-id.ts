/**
 * Finds a message's Message-ID (RFC 5322 3.6.4) while its bytes stream past, for the tracking log.
 * Only the header section is kept, and at most MAX_HEADER_BYTES of it, so memory stays bounded
 * whatever the message; a folded header field (RFC 5322 2.2.3) is unfolded first.
 */
import { fieldValue, headerFields } from './header.js';

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
    const room = bytes.subarray(0, MAX_HEADER_BYTES - this.#length);
    // Only the header section is copied (the caller's buffer may be reused after this call): its end
    // is looked for across the seam with the previous push, then in this one.
    const seam = this.#tail.length === 0 ? -1 : Buffer.concat([this.#tail, room.subarray(0, 3)]).indexOf(END_OF_HEADER);
    const within = seam >= 0 ? -1 : room.indexOf(END_OF_HEADER);
    const end = seam >= 0 ? seam + 4 - this.#tail.length : within >= 0 ? within + 4 : room.length;
    const part = Buffer.from(room.subarray(0, end));
    this.#parts.push(part);
    this.#length += part.length;
    if (seam >= 0 || within >= 0 || this.#length >= MAX_HEADER_BYTES) this.#done = true;
    else this.#tail = part.length >= 3 ? part.subarray(-3) : Buffer.concat([this.#tail, part]).subarray(-3);
  }

  /** The Message-ID's value with its angle brackets, or undefined. */
  messageId(): string | undefined {
    const field = headerFields(Buffer.concat(this.#parts)).find((f) => f.name === 'message-id');
    return field === undefined ? undefined : /^[ \t]*(<[^>\r\n]{1,990}>)/.exec(fieldValue(field))?.[1];
  }
}
