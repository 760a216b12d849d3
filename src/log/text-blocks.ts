/**
 * The memory the appender (appender.ts) holds queued texts in: reused 64 KiB blocks, each text copied
 * after the previous one, so a flood of log lines costs a few blocks rather than a buffer per line. A
 * block is reused once no queued span refers to it; a text longer than a block gets a buffer of its own.
 */

/** Texts are copied into blocks this big; a longer text gets a buffer of its own. */
export const BLOCK = 64 * 1024;
/** Idle blocks kept for reuse; more are left to the collector. */
const SPARE_BLOCKS = 4;

/** Bytes `start..end` of `buf`: a shared block, or a buffer of one long text's own. */
export interface Span {
  readonly buf: Buffer;
  readonly start: number;
  end: number;
}

export class TextBlocks {
  #block: Buffer | undefined;
  #used = 0;
  readonly #spans = new Map<Buffer, number>();
  readonly #spare: Buffer[] = [];

  /** Copies `text` (`length` UTF-8 octets) to the end of `parts`, extending its last span when it can. */
  copy(parts: Span[], text: string, length: number): void {
    if (length > BLOCK) {
      parts.push({ buf: Buffer.from(text, 'utf8'), start: 0, end: length });
      return;
    }
    let block = this.#block;
    if (block === undefined || this.#used + length > BLOCK) {
      if (block !== undefined && this.#spans.get(block) === undefined) this.#recycle(block);
      block = this.#spare.pop() ?? Buffer.allocUnsafeSlow(BLOCK);
      this.#block = block;
      this.#used = 0;
    }
    const start = this.#used;
    this.#used += block.write(text, start, 'utf8');
    const last = parts[parts.length - 1];
    if (last !== undefined && last.buf === block && last.end === start) last.end = this.#used;
    else {
      parts.push({ buf: block, start, end: this.#used });
      this.#spans.set(block, (this.#spans.get(block) ?? 0) + 1);
    }
  }

  /** A span was written (or lost): its block may be reused once nothing queued refers to it. */
  release(span: Span): void {
    const count = this.#spans.get(span.buf);
    if (count === undefined) return;
    if (count > 1) return void this.#spans.set(span.buf, count - 1);
    this.#spans.delete(span.buf);
    // Nothing queued refers to the block any more: fill the current one again from its start.
    if (span.buf === this.#block) this.#used = 0;
    else this.#recycle(span.buf);
  }

  #recycle(block: Buffer): void {
    if (this.#spare.length < SPARE_BLOCKS) this.#spare.push(block);
  }
}
