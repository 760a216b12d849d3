/** RFC 8689 5: whether a message carries "TLS-Required: No" in its header (read from the spool, bounded). */
import type { Readable } from 'node:stream';
import { headerEnd, parseHeaderBlock } from './header.js';

const MAX_HEADER_BYTES = 256 * 1024;

export async function tlsRequiredNo(open: () => Readable): Promise<boolean> {
  const stream = open();
  let head = Buffer.alloc(0);
  try {
    for await (const chunk of stream) {
      head = Buffer.concat([head, chunk as Buffer]);
      const end = headerEnd(head);
      if (end !== undefined) head = head.subarray(0, end.headerLength);
      if (end !== undefined || head.length > MAX_HEADER_BYTES) break;
    }
  } finally {
    stream.destroy();
  }
  return parseHeaderBlock(head.toString('latin1')).some(
    (f) => f.name === 'tls-required' && /^\s*no\s*$/i.test(f.raw.slice(f.raw.indexOf(':') + 1).replace(/\r\n/g, '')),
  );
}
