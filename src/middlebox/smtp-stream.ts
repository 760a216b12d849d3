/**
 * Sans-I/O views of an SMTP connection as a middlebox sees it, without ever copying the payload.
 * CommandSplitter: client bytes in, command lines, BDAT chunk bytes and DATA content out (chunk and
 * content pieces are never parsed as commands). ReplySplitter: server bytes in, whole replies out.
 * Both are pull-style (push, then next() until undefined) so a caller can stop at STARTTLS and take
 * the still-unparsed bytes with takeBuffered(). Every event carries the exact bytes it covers.
 */

export interface BdatArgs {
  readonly size: number;
  readonly last: boolean;
}

export type CommandEvent =
  /** raw includes the line ending; line excludes it; verb is the first word, upper-cased. */
  | { readonly kind: 'command'; readonly raw: Buffer; readonly line: string; readonly verb: string; readonly bdat: BdatArgs | undefined }
  /** Bytes of a BDAT chunk; end marks the piece holding the chunk's final byte. */
  | { readonly kind: 'chunk'; readonly data: Buffer; readonly end: boolean }
  /** Bytes of DATA content; end marks the piece holding the terminating ".\r\n". */
  | { readonly kind: 'content'; readonly data: Buffer; readonly end: boolean };

export interface Reply {
  /** The three-digit code, 0 when the line did not start with one. */
  readonly code: number;
  /** Each line's text after "ddd-" / "ddd ". */
  readonly lines: readonly string[];
  readonly raw: Buffer;
}

/** A line longer than this without LF is passed on as it stands rather than buffered forever. */
const MAX_LINE = 64 * 1024;
const EMPTY = Buffer.alloc(0);
const DOT_END = Buffer.from('.\r\n', 'latin1');
const CONTENT_END = Buffer.from('\r\n.\r\n', 'latin1');

/** "BDAT <size> [LAST]" (RFC 3030 2); undefined for anything else, including a malformed BDAT. */
export function parseBdat(line: string): BdatArgs | undefined {
  const m = /^BDAT +(\d{1,15})(?: +(LAST))? *$/i.exec(line);
  if (m === null || m[1] === undefined) return undefined;
  return { size: Number(m[1]), last: m[2] !== undefined };
}

export class CommandSplitter {
  #buf: Buffer = EMPTY;
  #mode: 'command' | 'chunk' | 'content' = 'command';
  #chunkLeft = 0;
  /** In content: nothing consumed since the last CRLF that started a line (the very first line). */
  #atLineStart = false;

  push(bytes: Buffer): void {
    this.#buf = this.#buf.length === 0 ? bytes : Buffer.concat([this.#buf, bytes]);
  }

  /** What the splitter expects next; a caller may use it to decide whether buffering is safe. */
  get mode(): 'command' | 'chunk' | 'content' {
    return this.#mode;
  }

  /** The server refused DATA (no 354): the client goes on with commands, not content. */
  abortContent(): void {
    if (this.#mode === 'content') this.#mode = 'command';
  }

  /** Hands back the bytes not yet turned into events (the splitter forgets them). */
  takeBuffered(): Buffer {
    const rest = this.#buf;
    this.#buf = EMPTY;
    return rest;
  }

  next(): CommandEvent | undefined {
    if (this.#mode === 'chunk') return this.#chunk();
    if (this.#mode === 'content') return this.#content();
    return this.#command();
  }

  #take(n: number): Buffer {
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  #chunk(): CommandEvent | undefined {
    if (this.#buf.length === 0) return undefined;
    const data = this.#take(Math.min(this.#chunkLeft, this.#buf.length));
    this.#chunkLeft -= data.length;
    if (this.#chunkLeft === 0) this.#mode = 'command';
    return { kind: 'chunk', data, end: this.#chunkLeft === 0 };
  }

  #content(): CommandEvent | undefined {
    const buf = this.#buf;
    if (buf.length === 0) return undefined;
    if (this.#atLineStart) {
      const n = Math.min(buf.length, DOT_END.length);
      if (buf.subarray(0, n).equals(DOT_END.subarray(0, n))) {
        if (n < DOT_END.length) return undefined;
        this.#mode = 'command';
        return { kind: 'content', data: this.#take(n), end: true };
      }
      this.#atLineStart = false;
    }
    const at = buf.indexOf(CONTENT_END);
    if (at >= 0) {
      this.#mode = 'command';
      return { kind: 'content', data: this.#take(at + CONTENT_END.length), end: true };
    }
    // Keep back a tail that could be the start of CRLF.CRLF; everything before it streams on now.
    let keep = Math.min(buf.length, CONTENT_END.length - 1);
    while (keep > 0 && !buf.subarray(buf.length - keep).equals(CONTENT_END.subarray(0, keep))) keep--;
    if (keep === buf.length) return undefined;
    return { kind: 'content', data: this.#take(buf.length - keep), end: false };
  }

  #command(): CommandEvent | undefined {
    const lf = this.#buf.indexOf(0x0a);
    if (lf < 0 && this.#buf.length <= MAX_LINE) return undefined;
    const raw = this.#take(lf < 0 ? this.#buf.length : lf + 1);
    const line = raw.toString('latin1').replace(/\r?\n$/, '');
    const verb = (/^\S*/.exec(line)?.[0] ?? '').toUpperCase();
    const bdat = verb === 'BDAT' ? parseBdat(line) : undefined;
    if (bdat !== undefined && bdat.size > 0) {
      this.#mode = 'chunk';
      this.#chunkLeft = bdat.size;
    } else if (/^DATA *$/i.test(line)) {
      this.#mode = 'content';
      this.#atLineStart = true;
    }
    return { kind: 'command', raw, line, verb, bdat };
  }
}

export class ReplySplitter {
  #buf: Buffer = EMPTY;
  /** How far #buf has been scanned: whole continuation lines of the reply being built. */
  #scanned = 0;
  #lines: string[] = [];

  push(bytes: Buffer): void {
    this.#buf = this.#buf.length === 0 ? bytes : Buffer.concat([this.#buf, bytes]);
  }

  takeBuffered(): Buffer {
    const rest = this.#buf;
    this.#buf = EMPTY;
    this.#scanned = 0;
    this.#lines = [];
    return rest;
  }

  next(): Reply | undefined {
    for (;;) {
      const lf = this.#buf.indexOf(0x0a, this.#scanned);
      const overlong = lf < 0 && this.#buf.length - this.#scanned > MAX_LINE;
      if (lf < 0 && !overlong) return undefined;
      const end = lf < 0 ? this.#buf.length : lf + 1;
      const text = this.#buf.toString('latin1', this.#scanned, end).replace(/\r?\n$/, '');
      this.#scanned = end;
      this.#lines.push(text.slice(4));
      if (text.charAt(3) === '-' && !overlong) continue;
      const code = /^\d{3}/.test(text) ? Number(text.slice(0, 3)) : 0;
      const reply: Reply = { code, lines: this.#lines, raw: this.#buf.subarray(0, end) };
      this.#buf = this.#buf.subarray(end);
      this.#scanned = 0;
      this.#lines = [];
      return reply;
    }
  }
}

/** Serializes a reply with correct continuation markers. */
export function formatReply(code: number, lines: readonly string[]): Buffer {
  const all = lines.length === 0 ? [''] : lines;
  const text = all.map((l, i) => `${code}${i === all.length - 1 ? ' ' : '-'}${l}\r\n`).join('');
  return Buffer.from(text, 'latin1');
}

/** `CHUNKING` -> `XXXXXXXA`: what inspecting firewalls do so the reply keeps its length. */
export function maskWord(word: string): string {
  return `${'X'.repeat(Math.max(0, word.length - 1))}A`;
}

/** The first word of an EHLO reply line, upper-cased ("SIZE 1000" -> "SIZE"). */
export function ehloKeyword(line: string): string {
  return (/^\S*/.exec(line)?.[0] ?? '').toUpperCase();
}

/** Masks the named keywords in an EHLO reply; returns undefined when none was present. */
export function maskEhloKeywords(reply: Reply, words: readonly string[]): { reply: Buffer; masked: string[] } | undefined {
  const masked: string[] = [];
  const lines = reply.lines.map((line, i) => {
    const word = ehloKeyword(line);
    if (i === 0 || !words.includes(word)) return line;
    masked.push(word);
    return maskWord(word) + line.slice(word.length);
  });
  return masked.length === 0 ? undefined : { reply: formatReply(reply.code, lines), masked };
}

/** Removes the lines advertising one keyword; undefined when it was not advertised. */
export function stripEhloKeyword(reply: Reply, word: string): Buffer | undefined {
  // The first line is the server's greeting name, never a keyword.
  const lines = reply.lines.filter((line, i) => i === 0 || ehloKeyword(line) !== word);
  return lines.length === reply.lines.length ? undefined : formatReply(reply.code, lines);
}
