/**
 * Reads a DATA body (RFC 5321 4.1.1.4, 4.5.2): removes dot-stuffing and finds the end of data.
 *
 * Only CR LF "." CR LF ends the message (SMTP smuggling defence): a "." line after a bare LF or bare CR
 * is content, never an end. Bare CR or LF is a violation by default (the whole body is still consumed,
 * then refused); with `normalise` each becomes CR LF and the line after it is not dot-processed.
 * Lines over 1000 octets (RFC 5321 4.5.3.1.6) are a violation too; a line that is both too long and
 * ends bare counts as too long, so the verdict does not depend on where the input was cut.
 *
 * Pure: bytes in, body slices out. The body is views of the input (no copies). Ordinary lines are
 * found with Buffer.indexOf (memchr) for the next CR and the next LF; only a line starting with "."
 * or ending other than CR LF leaves that loop.
 */

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const CRLF = Buffer.from('\r\n');
const LF_ONLY = Buffer.from('\n');
const CR_ONLY = Buffer.from('\r');

/** RFC 5321 4.5.3.1.6: a text line is at most 1000 octets including CR LF. */
export const MAX_TEXT_LINE = 1000;

export type DataViolation = 'bare-line-ending' | 'line-too-long';

export interface DataFeed {
  /** Bytes of `buf` consumed from `start` (all of them unless the end was found). */
  readonly consumed: number;
  /** Message bytes, dot-stuffing removed; slices of the input where possible. */
  readonly body: Buffer[];
  readonly done: boolean;
}

const enum State {
  /** At the start of a line that followed a real CR LF (or the start of the message). */
  LineStart,
  /** A "." at line start was seen and dropped (stuffing or the start of the terminator). */
  Dot,
  /** "." CR at line start: LF next ends the message. */
  DotCr,
  /** Inside a line. */
  Middle,
  /** The last byte of the previous input was a CR inside a line. */
  Cr,
}

export class DataReader {
  #state: State = State.LineStart;
  /** Wire octets of the current line before this input (the stuffing dot included). */
  #lineLength = 0;
  #violation: DataViolation | undefined;
  readonly #normalise: boolean;
  // The input being read, and what becomes of it: valid during feed() only.
  #buf: Buffer = CRLF;
  #body: Buffer[] = [];
  /** Start of the input bytes not yet passed to the body. */
  #segment = 0;
  /** Where the current line began, in input offsets (before `start` when it began in an earlier input). */
  #lineBegin = 0;

  constructor(options: { normaliseBareLineEndings: boolean }) {
    this.#normalise = options.normaliseBareLineEndings;
  }

  /** The first violation seen; once set, no more body bytes are produced (the message will be refused). */
  get violation(): DataViolation | undefined {
    return this.#violation;
  }

  feed(buf: Buffer, start: number): DataFeed {
    this.#buf = buf;
    this.#body = [];
    this.#segment = start;
    this.#lineBegin = start - this.#lineLength;
    const len = buf.length;
    let pos = start;
    let nextCr = -2; // -2: not searched yet; -1: none left in buf
    let nextLf = -2;
    while (pos < len) {
      switch (this.#state) {
        case State.LineStart:
          if (buf[pos] === DOT) {
            this.#pass(pos);
            pos++;
            this.#segment = pos;
            this.#state = State.Dot;
          } else {
            this.#state = State.Middle;
          }
          break;
        case State.Dot:
          if (buf[pos] === CR) {
            pos++;
            this.#segment = pos;
            this.#state = State.DotCr;
          } else {
            this.#state = State.Middle; // a stuffed dot: already dropped
          }
          break;
        case State.DotCr:
          if (buf[pos] === LF) {
            this.#endLine(pos + 1);
            this.#state = State.LineStart;
            return this.#result(pos + 1 - start, true);
          }
          // "." CR then something else: the dot was stuffing and the CR is bare.
          this.#endLine(pos);
          this.#add(CR_ONLY);
          this.#bareEnding(pos, LF_ONLY);
          this.#state = State.Middle;
          break;
        case State.Cr:
          this.#state = State.Middle;
          if (buf[pos] === LF) {
            pos++;
            this.#endLine(pos);
            this.#state = State.LineStart;
          } else {
            this.#endLine(pos);
            this.#bareEnding(pos, LF_ONLY);
          }
          break;
        case State.Middle:
          // The hot loop: whole CR LF lines, until one starts with "." or something is unusual.
          for (;;) {
            if (nextCr !== -1 && nextCr < pos) nextCr = buf.indexOf(CR, pos);
            if (nextLf !== -1 && nextLf < pos) nextLf = buf.indexOf(LF, pos);
            if (nextLf >= 0 && (nextCr < 0 || nextLf < nextCr)) {
              // A LF not preceded by CR (a CR before it would have been consumed with it).
              pos = nextLf + 1;
              this.#endLine(pos);
              this.#bareEnding(nextLf, CR_ONLY);
              break; // after a bare LF the next line is not dot-processed: "\n.\r\n" must never end the message
            }
            if (nextCr < 0) {
              pos = len;
              break;
            }
            pos = nextCr + 1;
            if (pos === len) {
              this.#state = State.Cr;
              break;
            }
            if (nextLf !== pos) {
              this.#endLine(pos);
              this.#bareEnding(pos, LF_ONLY);
              break;
            }
            pos++;
            this.#endLine(pos);
            if (pos === len || buf[pos] === DOT) {
              this.#state = State.LineStart;
              break;
            }
          }
          break;
      }
    }
    this.#pass(len);
    this.#lineLength = this.#state === State.LineStart ? 0 : len - this.#lineBegin;
    if (this.#lineLength > MAX_TEXT_LINE) this.#fail('line-too-long');
    return this.#result(len - start, false);
  }

  #result(consumed: number, done: boolean): DataFeed {
    const body = this.#body;
    this.#body = [];
    this.#buf = CRLF;
    return { consumed, body, done };
  }

  /** A line ends before `next`: checks its length (checked before a bare ending: see the contract). */
  #endLine(next: number): void {
    if (next - this.#lineBegin > MAX_TEXT_LINE) this.#fail('line-too-long');
    this.#lineBegin = next;
  }

  /**
   * A bare CR or LF: a violation, or with normalise its missing half is inserted at `at` (after a
   * bare CR, before a bare LF).
   */
  #bareEnding(at: number, missing: Buffer): void {
    if (!this.#normalise) return this.#fail('bare-line-ending');
    this.#pass(at);
    this.#add(missing);
  }

  /** Input bytes from the segment start to `end` go to the body unchanged. */
  #pass(end: number): void {
    if (end > this.#segment) this.#add(this.#buf.subarray(this.#segment, end));
    this.#segment = end;
  }

  #add(bytes: Buffer): void {
    if (this.#violation === undefined) this.#body.push(bytes);
  }

  #fail(violation: DataViolation): void {
    this.#violation ??= violation;
  }
}
