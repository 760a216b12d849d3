/**
 * Cuts message content into BDAT chunks (RFC 3030 2), pure. BDAT content is counted, never
 * stuffed. When the exact size is known, each chunk's length is known before its bytes arrive, so
 * bytes stream straight through; a converted message's length is not known, so a chunk is held
 * until more content follows (bounded by the chunk size) and the end is marked at bodyEnd.
 *
 * An optional health check makes the first chunk a small non-final one, whose reply the caller
 * awaits (with a short timeout) before sending what follows. Content of known size no longer than
 * the check is checked with all but its last octet (a non-final chunk must leave something for
 * LAST); content of unknown size that fits the check goes as one LAST chunk, its end known only then.
 */
export type FramePiece =
  | { readonly kind: 'header'; readonly header: string }
  | { readonly kind: 'bytes'; readonly data: Buffer }
  /** Every byte of a chunk is out: its reply is due. */
  | { readonly kind: 'chunkEnd'; readonly last: boolean; readonly check: boolean; readonly length: number };

export class BdatFramer {
  readonly #chunkSize: number;
  readonly #exactSize: number | undefined;
  #checkBytes: number | undefined;
  /** Exact mode: octets still owed to the open chunk, and in total. */
  #open: { remaining: number; length: number; last: boolean; check: boolean } | undefined;
  #total = 0;
  /** Unknown-size mode: content held until more follows. */
  #held: Buffer[] = [];
  #heldLength = 0;
  #lastSent = false;
  chunks = 0;

  constructor(chunkSize: number, exactSize: number | undefined, checkBytes: number | undefined) {
    this.#chunkSize = Math.max(1, chunkSize);
    this.#exactSize = exactSize;
    const wanted = checkBytes !== undefined && checkBytes > 0 ? checkBytes : undefined;
    if (exactSize === undefined || wanted === undefined) this.#checkBytes = wanted;
    else this.#checkBytes = exactSize < 2 ? undefined : Math.min(wanted, exactSize - 1);
  }

  /** The pieces these bytes complete; undefined when the content overruns its recorded size. */
  push(data: Buffer): FramePiece[] | undefined {
    return this.#exactSize === undefined ? this.#pushHeld(data) : this.#pushExact(data, this.#exactSize);
  }

  /** The final pieces; undefined when the content fell short of its recorded size. */
  end(): FramePiece[] | undefined {
    if (this.#exactSize !== undefined) {
      if (this.#total !== this.#exactSize || this.#open !== undefined) return undefined;
      return this.#lastSent ? [] : this.#chunk(0, true, false, []);
    }
    if (this.#lastSent) return [];
    const parts = this.#held;
    const length = this.#heldLength;
    this.#held = [];
    this.#heldLength = 0;
    return this.#chunk(length, true, false, parts);
  }

  #target(): { length: number; check: boolean } {
    const check = this.#checkBytes;
    this.#checkBytes = undefined;
    return check !== undefined ? { length: check, check: true } : { length: this.#chunkSize, check: false };
  }

  #chunk(length: number, last: boolean, check: boolean, parts: readonly Buffer[]): FramePiece[] {
    this.chunks++;
    if (last) this.#lastSent = true;
    const out: FramePiece[] = [{ kind: 'header', header: `BDAT ${length}${last ? ' LAST' : ''}` }];
    for (const data of parts) if (data.length > 0) out.push({ kind: 'bytes', data });
    out.push({ kind: 'chunkEnd', last, check, length });
    return out;
  }

  #pushExact(data: Buffer, size: number): FramePiece[] | undefined {
    const out: FramePiece[] = [];
    let rest = data;
    while (rest.length > 0) {
      if (this.#open === undefined) {
        const owed = size - this.#total;
        if (owed <= 0) return undefined;
        const target = this.#target();
        const length = Math.min(target.length, owed);
        this.#open = { remaining: length, length, last: length === owed, check: target.check };
        this.chunks++;
        if (this.#open.last) this.#lastSent = true;
        out.push({ kind: 'header', header: `BDAT ${length}${this.#open.last ? ' LAST' : ''}` });
      }
      const open = this.#open;
      const take = Math.min(open.remaining, rest.length);
      out.push({ kind: 'bytes', data: rest.subarray(0, take) });
      rest = rest.subarray(take);
      open.remaining -= take;
      this.#total += take;
      if (open.remaining === 0) {
        out.push({ kind: 'chunkEnd', last: open.last, check: open.check, length: open.length });
        this.#open = undefined;
      }
    }
    return out;
  }

  #pushHeld(data: Buffer): FramePiece[] {
    this.#held.push(data);
    this.#heldLength += data.length;
    const out: FramePiece[] = [];
    for (;;) {
      const length = this.#checkBytes ?? this.#chunkSize;
      // Strictly more than a chunk: content follows, so this chunk is not the last.
      if (this.#heldLength <= length) return out;
      const target = this.#target();
      const all = Buffer.concat(this.#held, this.#heldLength);
      this.#held = [all.subarray(target.length)];
      this.#heldLength = all.length - target.length;
      out.push(...this.#chunk(target.length, false, target.check, [all.subarray(0, target.length)]));
    }
  }
}
