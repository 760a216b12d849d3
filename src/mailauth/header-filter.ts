/**
 * A streaming pass over a message's header section (RFC 5322 2.1, 2.2) that removes chosen fields
 * while holding only a bounded amount: the start of the line being classified (at most a field
 * name) and a field being judged (at most MAX_HELD octets). Every other byte goes on as a view of
 * the caller's buffer, and after the header section nothing is looked at.
 *
 * The header section ends at the first empty line, or at the first line that cannot be a header
 * field (no "name:" and no leading white space): its octets up to there count against a limit. What
 * follows a non-field line is the caller's choice: filter on until the empty line (a reader taking
 * all of it as header then sees none of the removed fields), or insert the missing empty line so
 * every later reader agrees the body has begun. A bare LF ends a line here, as it does for mailauth.
 */

/** Receives the bytes that go on, in order. */
export type Emit = (bytes: Buffer) => void;

export interface FieldRule {
  /** The name of the fields judged (compared without case); all others pass untouched. */
  readonly name: string;
  /**
   * True keeps the field, false removes it, undefined asks for more of it. `text` is the field so far
   * (name, colon, value, folds; latin1). `complete` is true once the field has ended or passed MAX_HELD
   * octets: the answer must then be a decision.
   */
  readonly keep: (text: string, complete: boolean) => boolean | undefined;
}

export interface HeaderFilterOptions {
  readonly rule: FieldRule;
  /** Octets of header section allowed; past them `overflowed` is set and nothing more is filtered. */
  readonly maxHeaderBytes: number;
  /** At a line that cannot be a field: go on filtering until the empty line, or insert the empty line there. */
  readonly afterNonField: 'filter-on' | 'separate';
}

/** A judged field longer than this is decided on its first MAX_HELD octets. */
export const MAX_HELD = 8 * 1024;
/** RFC 5322 2.1.1: a line is at most 998 octets, so a longer run of name characters is no field name. */
const MAX_NAME = 998;

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;
const EMPTY_LINE = Buffer.from('\r\n');

type Scan = 'first' | 'cr' | 'name' | 'wsp';
type LineKind = 'continuation' | 'empty' | 'field' | 'other';
type Mode = 'pass' | 'hold' | 'drop';

export class HeaderFilter {
  readonly #o: HeaderFilterOptions;
  #phase: 'section' | 'after-other' | 'done' = 'section';
  #sectionBytes = 0;
  #overflowed = false;
  #atLineStart = true;
  /** Copies of the current line's first octets while it is classified across pushes. */
  #head: Buffer[] = [];
  #scan: Scan = 'first';
  /** The judged name in lower case, and whether the current line's name matches it so far. */
  readonly #judged: Buffer;
  #matching = true;
  #nameLength = 0;
  #headLength = 0;
  /** What happens to the rest of the current line, and to the current field's continuation lines. */
  #mode: Mode = 'pass';
  #held: Buffer[] = [];
  #heldLength = 0;

  constructor(options: HeaderFilterOptions) {
    this.#o = options;
    this.#judged = Buffer.from(options.rule.name.toLowerCase(), 'latin1');
  }

  /** True once the header section (and, with 'filter-on', anything up to the empty line) is behind. */
  get done(): boolean {
    return this.#phase === 'done';
  }

  /** True when the header section passed maxHeaderBytes. */
  get overflowed(): boolean {
    return this.#overflowed;
  }

  /** Octets held back now (a line's start being classified, a field being judged). */
  get heldBytes(): number {
    return this.#heldLength + this.#head.reduce((n, h) => n + h.length, 0);
  }

  push(bytes: Buffer, emit: Emit): void {
    if (this.#phase === 'done') return emit(bytes);
    const inSection = this.#phase === 'section';
    let sectionEnd = bytes.length;
    // A run of passing octets of `bytes`, emitted as one view when something else comes.
    let run = -1;
    const flush = (to: number): void => {
      if (run >= 0 && to > run) emit(bytes.subarray(run, to));
      run = -1;
    };
    let pos = 0;
    while (pos < bytes.length && !this.done) {
      if (!this.#atLineStart) {
        const lf = bytes.indexOf(LF, pos);
        const end = lf < 0 ? bytes.length : lf + 1;
        if (this.#mode === 'pass') run = run < 0 ? pos : run;
        else {
          flush(pos);
          if (this.#mode === 'hold') this.#hold(bytes.subarray(pos, end), lf >= 0, emit);
        }
        pos = end;
        this.#atLineStart = lf >= 0;
        continue;
      }
      const start = pos;
      const found = this.#classify(bytes, pos);
      if (found === undefined) {
        flush(start);
        this.#head.push(Buffer.from(bytes.subarray(start)));
        break;
      }
      pos = found.end;
      const plain = this.#head.length === 0 && this.#heldLength === 0 && this.#mode === 'pass';
      if (found.kind === 'continuation') {
        if (plain) run = run < 0 ? start : run;
        else this.#takeHead(bytes.subarray(start, pos), emit, () => flush(start));
        continue;
      }
      const wasSection = this.#phase === 'section';
      if (!plain) flush(start);
      if (this.#begin(found.kind, emit, () => flush(start)) === 'pass') {
        for (const h of this.#head) emit(h);
        this.#head = [];
        run = run < 0 ? start : run;
      } else this.#takeHead(bytes.subarray(start, pos), emit, () => flush(start));
      if (wasSection && this.#phase !== 'section') sectionEnd = found.kind === 'empty' ? pos : start;
    }
    if (this.done && pos < bytes.length) run = run < 0 ? pos : run;
    flush(bytes.length);
    if (inSection) this.#count(sectionEnd, emit);
  }

  /** The input has ended: a field still held is decided and what is left goes on. */
  end(emit: Emit): void {
    this.#settleHeld(emit);
    for (const h of this.#head) emit(h);
    this.#head = [];
    this.#phase = 'done';
  }

  #count(octets: number, emit: Emit): void {
    this.#sectionBytes += octets;
    if (this.#sectionBytes <= this.#o.maxHeaderBytes || this.#overflowed) return;
    this.#overflowed = true;
    this.end(emit);
  }

  /** Reads the start of a line from `pos`; undefined when the push ends before its kind is known. */
  #classify(bytes: Buffer, pos: number): { readonly kind: LineKind; readonly end: number } | undefined {
    for (let i = pos; i < bytes.length; i++) {
      const b = bytes[i] ?? 0;
      // A line start is at most a field name and its colon: past that it is no field (and is not held).
      if (++this.#headLength > MAX_NAME + 1) return this.#classified('other', i);
      switch (this.#scan) {
        case 'first':
          if (b === SP || b === HTAB) return this.#classified('continuation', i + 1);
          if (b === LF) return this.#classified('empty', i + 1);
          if (b === CR) this.#scan = 'cr';
          else if (b > SP && b < 0x7f && b !== COLON) this.#nameChar(b);
          else return this.#classified('other', i);
          break;
        case 'cr':
          return b === LF ? this.#classified('empty', i + 1) : this.#classified('other', i);
        case 'name':
          if (b === COLON) return this.#classified('field', i + 1);
          if (b === SP || b === HTAB) this.#scan = 'wsp';
          else if (b > SP && b < 0x7f) this.#nameChar(b);
          else return this.#classified('other', i);
          break;
        case 'wsp':
          // RFC 5322 4.5.8 (obsolete syntax): white space may come between a field name and its colon.
          if (b === COLON) return this.#classified('field', i + 1);
          if (b !== SP && b !== HTAB) return this.#classified('other', i);
          break;
      }
    }
    return undefined;
  }

  #nameChar(b: number): void {
    this.#scan = 'name';
    // Compared as it is read: no string is made of a name.
    if (this.#matching) this.#matching = (b >= 0x41 && b <= 0x5a ? b + 0x20 : b) === this.#judged[this.#nameLength];
    this.#nameLength++;
  }

  #classified(kind: LineKind, end: number): { readonly kind: LineKind; readonly end: number } {
    this.#atLineStart = false;
    this.#scan = 'first';
    this.#headLength = 0;
    return { kind, end };
  }

  /**
   * A line of `kind` begins (not a continuation): the field before it is settled, and the mode for
   * this line is chosen. `before` emits what came before the line, ahead of a held field's octets.
   */
  #begin(kind: LineKind, emit: Emit, before: () => void): Mode {
    const judged = this.#matching && this.#nameLength === this.#judged.length;
    this.#matching = true;
    this.#nameLength = 0;
    if (this.#heldLength > 0) {
      before();
      this.#settleHeld(emit);
    }
    if (kind === 'empty') {
      this.#phase = 'done';
      this.#mode = 'pass';
    } else if (kind === 'other') {
      if (this.#phase === 'section' && this.#o.afterNonField === 'separate') {
        // RFC 5322 2.1: the body follows an empty line; one is supplied where the sender left it out.
        before();
        emit(EMPTY_LINE);
        this.#phase = 'done';
      } else this.#phase = 'after-other';
      this.#mode = 'pass';
    } else this.#mode = judged ? 'hold' : 'pass';
    return this.#mode;
  }

  /** The classified start of a line goes the way of its mode (after any copies from earlier pushes). */
  #takeHead(rest: Buffer, emit: Emit, before: () => void): void {
    const parts = [...this.#head, rest];
    this.#head = [];
    if (this.#mode === 'pass') {
      for (const p of parts) emit(p);
      return;
    }
    before();
    if (this.#mode !== 'hold') return;
    // A new judged field is asked about once its name is in (a rule may decide on the name alone).
    const fresh = this.#heldLength === 0;
    for (const [i, p] of parts.entries()) {
      // An early decision (or MAX_HELD) changes the mode part-way.
      if (this.#mode === 'hold') this.#hold(p, fresh && i === parts.length - 1, emit);
      else if (this.#mode === 'pass') emit(p);
    }
  }

  /** Keeps a judged field's octets until the rule decides; `ask` asks it (at line ends). */
  #hold(bytes: Buffer, ask: boolean, emit: Emit): void {
    this.#held.push(Buffer.from(bytes));
    this.#heldLength += bytes.length;
    if (this.#heldLength > MAX_HELD) return this.#settleHeld(emit);
    if (!ask) return;
    const verdict = this.#o.rule.keep(this.#heldText(), false);
    if (verdict !== undefined) this.#decide(verdict, emit);
  }

  #heldText(): string {
    return Buffer.concat(this.#held).toString('latin1', 0, Math.min(this.#heldLength, MAX_HELD));
  }

  #settleHeld(emit: Emit): void {
    if (this.#heldLength === 0) return;
    this.#decide(this.#o.rule.keep(this.#heldText(), true) ?? false, emit);
  }

  /** The rest of the field (its continuation lines) follows the decision. */
  #decide(keep: boolean, emit: Emit): void {
    if (keep) for (const h of this.#held) emit(h);
    this.#held = [];
    this.#heldLength = 0;
    this.#mode = keep ? 'pass' : 'drop';
  }
}
