/**
 * Frames command lines out of the byte stream (RFC 5321 2.3.8, 4.5.3.1.4). Only CRLF ends a line;
 * a line holding a bare LF is refused whole at its CRLF, so `MAIL ...\nRCPT ...\r\n` can never run
 * as two commands. A line over the limit is dropped up to its CRLF, so none of it is later taken
 * for a command. Reads at most one line per call: what follows may be BDAT chunk bytes, not commands.
 */

/** RFC 5321 4.5.3.1.4; RFC 3461 5 allows MAIL/RCPT lines 500 octets more when DSN is offered. */
export const MAX_COMMAND_LINE = 512;
export const DSN_LINE_ALLOWANCE = 500;
const LF = 0x0a;
const CR = 0x0d;

export type FramedLine =
  /** A line without its CRLF; `length` counts its octets with the CRLF. */
  { readonly kind: 'line'; readonly text: string; readonly length: number } | { readonly kind: 'too-long' } | { readonly kind: 'bare-lf' };

export interface FrameStep {
  /** Where reading stopped in the buffer: after the line's LF, or its end. */
  readonly next: number;
  /** The line that ended there, if one did. */
  readonly line?: FramedLine;
}

export class CommandFramer {
  readonly #limit: number;
  #parts: Buffer[] = [];
  #length = 0;
  #discarding = false;
  /** The current line holds a bare LF (refused at its CRLF); the last byte read was a CR. */
  #bareLf = false;
  #lastCr = false;

  /** `limit`: the longest line accepted, CRLF included. */
  constructor(limit: number) {
    this.#limit = limit;
  }

  feed(buf: Buffer, pos: number): FrameStep {
    let lf = buf.indexOf(LF, pos);
    while (lf >= 0 && !(lf > pos ? buf[lf - 1] === CR : this.#lastCr)) {
      this.#bareLf = true;
      lf = buf.indexOf(LF, lf + 1);
    }
    const next = lf < 0 ? buf.length : lf + 1;
    this.#lastCr = lf < 0 && buf[next - 1] === CR;
    if (this.#discarding) {
      if (lf < 0) return { next };
      this.#discarding = false;
      this.#bareLf = false;
      return { next, line: { kind: 'too-long' } };
    }
    this.#length += next - pos;
    if (this.#length > this.#limit) {
      this.#parts = [];
      this.#length = 0;
      if (lf < 0) {
        this.#discarding = true;
        return { next };
      }
      this.#bareLf = false;
      return { next, line: { kind: 'too-long' } };
    }
    if (lf < 0) {
      this.#parts.push(Buffer.from(buf.subarray(pos, next)));
      return { next };
    }
    const raw = this.#parts.length === 0 ? buf.subarray(pos, next) : Buffer.concat([...this.#parts, buf.subarray(pos, next)]);
    const length = this.#length;
    this.#parts = [];
    this.#length = 0;
    if (this.#bareLf) {
      this.#bareLf = false;
      return { next, line: { kind: 'bare-lf' } };
    }
    let stop = raw.length - 1;
    if (stop > 0 && raw[stop - 1] === CR) stop--;
    return { next, line: { kind: 'line', text: raw.toString('utf8', 0, stop), length } };
  }
}
