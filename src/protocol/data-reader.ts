/**
 * Reads a DATA body (RFC 5321 4.1.1.4, 4.5.2): removes dot-stuffing and finds the end of data.
 *
 * Only CR LF "." CR LF ends the message (SMTP smuggling defence): a "." line after a bare LF or bare CR
 * is content, never an end. Bare CR or LF is a violation by default (the whole body is still consumed,
 * then refused); with `normalise` each becomes CR LF and the line after it is not dot-processed.
 * Lines over 1000 octets (RFC 5321 4.5.3.1.6) are a violation too. Pure: bytes in, body slices out.
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
  #lineLength = 0;
  #violation: DataViolation | undefined;
  readonly #normalise: boolean;

  constructor(options: { normaliseBareLineEndings: boolean }) {
    this.#normalise = options.normaliseBareLineEndings;
  }

  /** The first violation seen; once set, no more body bytes are produced (the message will be refused). */
  get violation(): DataViolation | undefined {
    return this.#violation;
  }

  feed(buf: Buffer, start: number): DataFeed {
    const body: Buffer[] = [];
    let pos = start;
    let segment = start; // start of bytes passed through unchanged
    let lineBegin = start;
    const flush = (end: number): void => {
      if (end > segment && this.#violation === undefined) body.push(buf.subarray(segment, end));
    };
    const emit = (bytes: Buffer): void => {
      if (this.#violation === undefined) body.push(bytes);
    };
    const endLine = (next: number): void => {
      if (this.#lineLength + (next - lineBegin) > MAX_TEXT_LINE) this.#fail('line-too-long');
      this.#lineLength = 0;
      lineBegin = next;
    };
    const bare = (): void => {
      if (!this.#normalise) this.#fail('bare-line-ending');
    };
    let nextCr = -2;
    let nextLf = -2;

    while (pos < buf.length) {
      switch (this.#state) {
        case State.LineStart:
          if (buf[pos] === DOT) {
            flush(pos);
            pos++;
            segment = pos;
            this.#state = State.Dot;
          } else {
            this.#state = State.Middle;
          }
          break;
        case State.Dot:
          if (buf[pos] === CR) {
            pos++;
            segment = pos;
            this.#state = State.DotCr;
          } else {
            this.#state = State.Middle; // a stuffed dot: already dropped
          }
          break;
        case State.DotCr:
          if (buf[pos] === LF) {
            endLine(pos + 1);
            this.#state = State.LineStart;
            return { consumed: pos + 1 - start, body, done: true };
          }
          // "." CR then something else: the dot was stuffing and the CR is bare.
          bare();
          emit(this.#normalise ? CRLF : CR_ONLY);
          endLine(pos); // a bare CR ends a line for the length limit, as in Middle
          this.#state = State.Middle;
          break;
        case State.Cr:
          if (buf[pos] === LF) {
            pos++;
            endLine(pos);
            this.#state = State.LineStart;
          } else {
            bare();
            if (this.#normalise) {
              flush(pos);
              segment = pos;
              emit(LF_ONLY);
            }
            // The CR ends the line for the length limit, as it does when it is not the last byte of a read.
            endLine(pos);
            this.#state = State.Middle;
          }
          break;
        case State.Middle: {
          if (nextCr !== -1 && nextCr < pos) nextCr = buf.indexOf(CR, pos);
          if (nextLf !== -1 && nextLf < pos) nextLf = buf.indexOf(LF, pos);
          const p = nextCr < 0 ? nextLf : nextLf < 0 ? nextCr : Math.min(nextCr, nextLf);
          if (p < 0) {
            pos = buf.length;
            break;
          }
          if (buf[p] === LF) {
            // A LF not preceded by CR (a CR before it would have been consumed with it).
            bare();
            if (this.#normalise) {
              flush(p);
              segment = p;
              emit(CR_ONLY);
            }
            pos = p + 1;
            endLine(pos);
            // After a bare LF the next line is not dot-processed: "\n.\r\n" must never end the message.
            this.#state = State.Middle;
          } else if (p + 1 >= buf.length) {
            pos = p + 1;
            this.#state = State.Cr;
          } else if (buf[p + 1] === LF) {
            pos = p + 2;
            endLine(pos);
            this.#state = State.LineStart;
          } else {
            bare();
            pos = p + 1;
            if (this.#normalise) {
              flush(pos);
              segment = pos;
              emit(LF_ONLY);
            }
            endLine(pos);
          }
          break;
        }
      }
    }
    flush(pos);
    this.#lineLength += buf.length - lineBegin;
    if (this.#lineLength > MAX_TEXT_LINE) this.#fail('line-too-long');
    return { consumed: buf.length - start, body, done: false };
  }

  #fail(violation: DataViolation): void {
    this.#violation ??= violation;
  }
}
