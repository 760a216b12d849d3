/**
 * The client side's reply reader, sans I/O: bytes in, complete replies out (RFC 5321 4.2).
 * A multi-line reply is "ddd-text" lines ending with "ddd text". Enhanced status codes (RFC 2034)
 * are split off the first line when present. Lines are bounded so a hostile peer cannot grow memory.
 */
export interface PeerReply {
  readonly code: number;
  /** "x.y.z" when the peer sent one. */
  readonly enhanced?: string;
  /** Text of each line without code and enhanced code. */
  readonly lines: readonly string[];
}

/** RFC 5321 4.5.3.1.5 allows 512 octets per reply line; be generous, but bounded. */
const MAX_LINE = 4096;
const MAX_LINES = 200;
const ENHANCED = /^([245])\.(\d{1,3})\.(\d{1,3})(?: |$)/;

export class ReplyParseError extends Error {}

export class ReplyParser {
  #partial = '';
  #lines: string[] = [];

  /** Returns the replies completed by these bytes; throws ReplyParseError on a malformed reply. */
  feed(bytes: Buffer): PeerReply[] {
    const out: PeerReply[] = [];
    let text = this.#partial + bytes.toString('latin1');
    let lf: number;
    while ((lf = text.indexOf('\n')) >= 0) {
      const line = text.slice(0, lf).replace(/\r$/, '');
      text = text.slice(lf + 1);
      const done = this.#line(line);
      if (done !== undefined) out.push(done);
    }
    if (text.length > MAX_LINE) throw new ReplyParseError('reply line too long');
    this.#partial = text;
    return out;
  }

  /**
   * The replies in `bytes`, fed a line at a time while `more()` holds: replies completed before a
   * malformed line still count, and bytes after the reply that stops the reading stay unparsed.
   * A malformed reply ends the replies with why.
   */
  *replies(bytes: Buffer, more: () => boolean): Generator<PeerReply | { readonly malformed: string }> {
    for (let start = 0; start < bytes.length && more(); ) {
      const lf = bytes.indexOf(0x0a, start);
      const end = lf < 0 ? bytes.length : lf + 1;
      let replies: PeerReply[];
      try {
        replies = this.feed(bytes.subarray(start, end));
      } catch (e) {
        yield { malformed: e instanceof ReplyParseError ? e.message : 'unreadable reply' };
        return;
      }
      start = end;
      for (const r of replies) {
        if (!more()) return;
        yield r;
      }
    }
  }

  #line(line: string): PeerReply | undefined {
    const m = /^([2-5]\d\d)([ -]?)(.*)$/.exec(line);
    if (m === null) throw new ReplyParseError(`malformed reply line: ${JSON.stringify(line.slice(0, 80))}`);
    this.#lines.push(line);
    if (this.#lines.length > MAX_LINES) throw new ReplyParseError('reply has too many lines');
    if (m[2] === '-') return undefined;
    const code = Number(m[1]);
    const texts = this.#lines.map((l) => l.slice(4));
    this.#lines = [];
    const first = texts[0] ?? '';
    const enhanced = ENHANCED.exec(first);
    // RFC 3463: the enhanced code's class must match the reply's first digit.
    if (enhanced !== null && enhanced[1] === String(code)[0]) {
      const code3 = `${enhanced[1]}.${enhanced[2]}.${enhanced[3]}`;
      return { code, enhanced: code3, lines: texts.map((t) => (t.startsWith(code3) ? t.slice(code3.length).trimStart() : t)) };
    }
    return { code, lines: texts };
  }
}

/** "250 2.0.0 OK" on one line, for logs and DSN diagnostics. */
export function replyText(r: PeerReply): string {
  return `${r.code}${r.enhanced === undefined ? '' : ` ${r.enhanced}`} ${r.lines.join(' / ')}`.trim();
}
