/**
 * Read handles on segment files, one per segment, so reading a small message is one positional read
 * rather than an open, a read and a close. The log closes a segment's handle when it retires the
 * segment, and reuses the file only once no read on it is in flight (`idle`): a message moved by
 * compaction may still be read at its old place by a delivery that started before the move.
 */
import { Readable } from 'node:stream';
import { closeFd, openFd, readAt } from '../../fs/fd-file.js';
import type { LiveIndex } from './live-index.js';

export interface SegmentReadersOptions {
  /**
   * Test seam: awaited by each read once it holds its segment's handle and before it reads, so a
   * test can keep a read in flight at a chosen moment. Production passes none.
   */
  readonly beforeRead?: (generation: number) => Promise<void>;
}

export class SegmentReaders {
  readonly #path: (generation: number) => string;
  readonly #beforeRead: SegmentReadersOptions['beforeRead'];
  /** A descriptor per segment (fs callbacks cost less per read than a FileHandle). */
  readonly #handles = new Map<number, Promise<number>>();
  /** Reads in flight per segment, and who waits for them to end. */
  readonly #reading = new Map<number, { count: number; idle: Array<() => void> }>();

  constructor(path: (generation: number) => string, options: SegmentReadersOptions = {}) {
    this.#path = path;
    this.#beforeRead = options.beforeRead;
  }

  /** The `length` octets at `offset` of segment `generation`, in one piece. */
  async read(generation: number, offset: number, length: number): Promise<Buffer> {
    const reading = this.#reading.get(generation) ?? { count: 0, idle: [] };
    this.#reading.set(generation, reading);
    reading.count++;
    try {
      return await this.#read(generation, offset, length);
    } finally {
      if (--reading.count === 0) {
        this.#reading.delete(generation);
        for (const wake of reading.idle) wake();
      }
    }
  }

  /** Resolves once no read on segment `generation` is in flight. */
  idle(generation: number): Promise<void> {
    const reading = this.#reading.get(generation);
    return reading === undefined ? Promise.resolve() : new Promise((resolve) => reading.idle.push(resolve));
  }

  async #read(generation: number, offset: number, length: number): Promise<Buffer> {
    let handle = this.#handles.get(generation);
    if (handle === undefined) {
      handle = openFd(this.#path(generation), 'r');
      handle.catch(() => this.#handles.delete(generation));
      this.#handles.set(generation, handle);
    }
    const fd = await handle;
    if (this.#beforeRead !== undefined) await this.#beforeRead(generation);
    const bytes = Buffer.allocUnsafe(length);
    for (let done = 0; done < length; ) {
      const bytesRead = await readAt(fd, bytes, done, length - done, offset + done);
      if (bytesRead === 0) throw new Error('segment shorter than its record');
      done += bytesRead;
    }
    return bytes;
  }

  close(generation: number): void {
    const handle = this.#handles.get(generation);
    this.#handles.delete(generation);
    // After the reads in flight on it (a moved message may still be read at its old place).
    if (handle !== undefined)
      void this.idle(generation)
        .then(() => handle)
        .then(closeFd)
        .catch(() => undefined);
  }

  closeAll(): void {
    for (const g of [...this.#handles.keys()]) this.close(g);
  }
}

/** A stream of a live entry's octets that locates the entry when first read (compaction may move it meanwhile). */
export function lazyMessageStream(id: string, index: LiveIndex, readers: SegmentReaders): Readable {
  return Readable.from(
    (async function* () {
      const at = index.get(id);
      if (at === undefined) throw new Error(`message ${id} left the log before it was read`);
      // The read is counted as in flight from this call on (no await between the look-up and it).
      const bytes = await readers.read(at.generation, at.offset, at.length);
      if (bytes.length > 0) yield bytes;
    })(),
    { objectMode: false },
  );
}
