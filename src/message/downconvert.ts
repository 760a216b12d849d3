/**
 * Downconversion for a path without BINARYMIME or 8BITMIME (RFC 3030 3, RFC 6152 3): every MIME
 * leaf part marked binary or 8bit (or an unmarked single-part message that is not 7-bit) is re-encoded as
 * base64 in 76-character lines, and the message gets a header saying so. Streams: the MIME
 * structure is parsed and rebuilt by mailsplit, part contents are encoded and wrapped by libbase64.
 * mailsplit is loaded on first use: most servers never need to downconvert, and it costs memory.
 */
import { PassThrough, pipeline, Transform, type Readable, type TransformCallback } from 'node:stream';
import { encode, wrap } from 'libbase64';
import type { BodyType } from '../protocol/envelope.js';

/** 57 input bytes make one 76-character base64 line (RFC 2045 6.8). */
const LINE_BYTES = 57;
const LINE_CHARS = 76;

interface SplitNode {
  type: 'node';
  root: boolean;
  multipart: string | false;
  encoding: string | false;
  headers: {
    update(key: string, value: string): void;
    add(key: string, value: string, index?: number): void;
    hasHeader(key: string): boolean;
  };
}
type SplitItem = SplitNode | { type: 'body' | 'data'; value: Buffer };

class Base64Parts extends Transform {
  readonly #body: BodyType;
  readonly #note: string;
  #converting = false;
  #lines = 0;
  #rest = Buffer.alloc(0);

  constructor(body: BodyType, note: string) {
    super({ objectMode: true });
    this.#body = body;
    this.#note = note;
  }

  override _transform(item: SplitItem, _encoding: BufferEncoding, done: TransformCallback): void {
    if (item.type === 'body' && this.#converting) {
      const text = this.#encode(Buffer.concat([this.#rest, item.value]), false);
      if (text.length > 0) this.push({ type: 'body', value: text });
      return done();
    }
    if (this.#converting) this.#finish();
    if (item.type === 'node') {
      if (item.root) {
        item.headers.add('X-Barge-Converted', this.#note);
        // A Content-Transfer-Encoding means something only in a MIME message (RFC 2045 4).
        if (!item.headers.hasHeader('MIME-Version')) item.headers.add('MIME-Version', '1.0');
      }
      const encoding = (item.encoding || '').toLowerCase();
      const unmarked = encoding === '' || encoding === '7bit';
      // Inside a multipart an unmarked part is 7bit (RFC 2045 6.1); an unmarked single-part 8-bit
      // message (plain text with no MIME headers) is the common case and is converted.
      if (item.multipart === false && (encoding === 'binary' || encoding === '8bit' || (unmarked && item.root && this.#body !== '7BIT'))) {
        item.headers.update('Content-Transfer-Encoding', 'base64');
        this.#converting = true;
        this.#lines = 0;
      }
    }
    this.push(item);
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.#converting) {
      this.#finish();
      this.push({ type: 'body', value: Buffer.from('\r\n') });
    }
    done();
  }

  #finish(): void {
    const text = this.#encode(this.#rest, true);
    if (text.length > 0) this.push({ type: 'body', value: text });
    this.#converting = false;
  }

  /** Whole 57-byte groups become lines; the remainder waits unless this is the end of the part. */
  #encode(bytes: Buffer, final: boolean): Buffer {
    const whole = final ? bytes.length : bytes.length - (bytes.length % LINE_BYTES);
    this.#rest = Buffer.from(bytes.subarray(whole));
    if (whole === 0) return Buffer.alloc(0);
    // Lines are separated, not terminated: the CRLF before a boundary belongs to the boundary.
    const text = (this.#lines > 0 ? '\r\n' : '') + wrap(encode(bytes.subarray(0, whole)), LINE_CHARS);
    this.#lines += Math.ceil(whole / LINE_BYTES);
    return Buffer.from(text, 'latin1');
  }
}

/** The message re-encoded so that it is 7-bit clean. */
export function downconvert(message: Readable, body: BodyType, note: string): Readable {
  const out = new PassThrough();
  mailsplit ??= import('@zone-eu/mailsplit');
  mailsplit.then(
    ({ Splitter, Joiner }) => {
      // mailsplit's typings narrow the stream events to 'data'; as streams they are ordinary Transforms.
      const splitter = new Splitter() as unknown as Transform;
      const joiner = new Joiner() as unknown as Transform;
      pipeline(message, splitter, new Base64Parts(body, note), joiner, out, (e) => {
        if (e) out.destroy(e);
      });
    },
    (e: unknown) => {
      message.destroy();
      out.destroy(e instanceof Error ? e : new Error(String(e)));
    },
  );
  return out;
}

let mailsplit: Promise<typeof import('@zone-eu/mailsplit')> | undefined;
