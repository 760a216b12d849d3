/**
 * Read handles on segment files, one per segment, so reading a small message is one positional read
 * rather than an open, a read and a close. The log closes a segment's handle when it retires the
 * segment; a live message's segment is never retired, so a handle never sees a reused file's records.
 */
import { open, type FileHandle } from 'node:fs/promises';

export class SegmentReaders {
  readonly #path: (generation: number) => string;
  readonly #handles = new Map<number, Promise<FileHandle>>();

  constructor(path: (generation: number) => string) {
    this.#path = path;
  }

  /** The `length` octets at `offset` of segment `generation`, in one piece. */
  async read(generation: number, offset: number, length: number): Promise<Buffer> {
    let handle = this.#handles.get(generation);
    if (handle === undefined) {
      handle = open(this.#path(generation), 'r');
      handle.catch(() => this.#handles.delete(generation));
      this.#handles.set(generation, handle);
    }
    const file = await handle;
    const bytes = Buffer.allocUnsafe(length);
    for (let done = 0; done < length; ) {
      const { bytesRead } = await file.read(bytes, done, length - done, offset + done);
      if (bytesRead === 0) throw new Error('segment shorter than its record');
      done += bytesRead;
    }
    return bytes;
  }

  close(generation: number): void {
    const handle = this.#handles.get(generation);
    this.#handles.delete(generation);
    void handle?.then((h) => h.close()).catch(() => undefined);
  }

  closeAll(): void {
    for (const g of [...this.#handles.keys()]) this.close(g);
  }
}
