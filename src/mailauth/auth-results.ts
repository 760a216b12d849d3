/**
 * Removes Authentication-Results fields that claim Barge's authserv-id from a message's header
 * (RFC 8601 5: a forged result under our name must not survive), streaming, every other byte kept.
 */
import type { Readable } from 'node:stream';
import { headerEnd } from '../message/header.js';

/** Header blocks larger than this are passed through untouched (a forged field that deep is harmless to no one we know). */
const MAX_HEADER_BYTES = 256 * 1024;

/** The authserv-id of an Authentication-Results value: its first token, before any version or ';'. */
export function authservId(fieldText: string): string {
  const value = fieldText.slice(fieldText.indexOf(':') + 1).replace(/\([^()]*\)/g, ' ');
  return (value.split(';')[0] ?? '').trim().split(/\s+/)[0]?.toLowerCase() ?? '';
}

/** The header block with our own Authentication-Results fields cut out; line endings as they were. */
export function stripOwnResults(block: string, hostname: string): string {
  const lines = block.split(/(?<=\n)/);
  const fields: string[] = [];
  for (const line of lines) {
    if ((line.startsWith(' ') || line.startsWith('\t')) && fields.length > 0) fields[fields.length - 1] += line;
    else fields.push(line);
  }
  const own = hostname.toLowerCase();
  return fields.filter((f) => !(/^authentication-results\s*:/i.test(f) && authservId(f) === own)).join('');
}

export async function* withoutOwnResults(stream: Readable, hostname: string): AsyncGenerator<Buffer> {
  let head: Buffer | undefined = Buffer.alloc(0);
  for await (const chunk of stream) {
    if (head === undefined) {
      yield chunk as Buffer;
      continue;
    }
    head = Buffer.concat([head, chunk as Buffer]);
    const end = headerEnd(head);
    if (end === undefined && head.length <= MAX_HEADER_BYTES) continue;
    if (end === undefined) yield head;
    else {
      // The block keeps its own last line ending; the blank line and the body follow unchanged.
      const cut = head.indexOf('\n', end.headerLength) + 1;
      yield Buffer.from(stripOwnResults(head.subarray(0, cut).toString('latin1'), hostname), 'latin1');
      yield head.subarray(cut);
    }
    head = undefined;
  }
  if (head !== undefined && head.length > 0) yield head;
}
