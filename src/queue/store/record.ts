/**
 * One record of the segment log, self-checking so recovery can tell a complete record from a torn
 * write or from a stale record left by an earlier use of a recycled segment file.
 *
 * Layout (little-endian): magic u32 | generation u32 | type u8 | 3 zero octets | payload length u32 |
 * CRC-32 u32 over the 16 header octets before it and the payload | payload.
 * A MESSAGE payload is: id length u16 | id | envelope length u32 | envelope JSON | message octets.
 * A DONE payload is the id alone. A STATE payload is: id length u16 | id | state JSON (the latest wins).
 */
import { crc32 } from 'node:zlib';

export const MAGIC = 0x31475242; // "BRG1"
export const HEADER = 20;
const MESSAGE = 1;
const DONE = 2;
const STATE = 3;

export interface MessageRecord {
  readonly type: 'message';
  readonly id: string;
  readonly envelope: string;
  /** Offset of the message octets from the record's start, and their length. */
  readonly bodyOffset: number;
  readonly bodyLength: number;
}
export interface DoneRecord {
  readonly type: 'done';
  readonly id: string;
}
export interface StateRecord {
  readonly type: 'state';
  readonly id: string;
  readonly state: string;
}
export type Parsed =
  | { readonly kind: 'record'; readonly record: MessageRecord | DoneRecord | StateRecord; readonly size: number }
  /** All-zero header or a record of another generation: the segment's valid records end here. */
  | { readonly kind: 'end' }
  /** A header or checksum that does not hold: a write cut short by a crash. */
  | { readonly kind: 'torn' };

/**
 * The buffers of one record, ready for a gathered write: the header, id and envelope in one buffer
 * (written in place, one allocation per message), then the message octets, not copied.
 */
export function encodeMessage(generation: number, id: string, envelope: string, body: readonly Buffer[]): Buffer[] {
  const envStart = HEADER + 2 + id.length + 4;
  const head = Buffer.allocUnsafe(envStart + Buffer.byteLength(envelope, 'utf8'));
  head.writeUInt16LE(id.length, HEADER);
  head.write(id, HEADER + 2, 'latin1');
  head.writeUInt32LE(head.length - envStart, envStart - 4);
  head.write(envelope, envStart, 'utf8');
  let length = head.length - HEADER;
  for (const b of body) length += b.length;
  writeHeader(head, generation, MESSAGE, length);
  let crc = crc32(head.subarray(HEADER), crc32(head.subarray(0, 16)));
  for (const b of body) crc = crc32(b, crc);
  head.writeUInt32LE(crc >>> 0, 16);
  return [head, ...body];
}

/** Octets of a MESSAGE record, header included. */
export function messageSize(id: string, envelope: string, body: readonly Buffer[]): number {
  return HEADER + 2 + Buffer.byteLength(id, 'latin1') + 4 + Buffer.byteLength(envelope, 'utf8') + body.reduce((n, b) => n + b.length, 0);
}

export function encodeDone(generation: number, id: string): Buffer[] {
  return seal(generation, DONE, [Buffer.from(id, 'latin1')]);
}

export function encodeState(generation: number, id: string, state: string): Buffer[] {
  return seal(generation, STATE, [idPrefix(Buffer.from(id, 'latin1'), 0), Buffer.from(state, 'utf8')]);
}

/** Octets of a STATE record, header included. */
export function stateSize(id: string, state: string): number {
  return HEADER + 2 + Buffer.byteLength(id, 'latin1') + Buffer.byteLength(state, 'utf8');
}

/** id length u16 | id, with `extra` zero octets after it for the caller to fill. */
function idPrefix(idBytes: Buffer, extra: number): Buffer {
  const head = Buffer.alloc(2 + idBytes.length + extra);
  head.writeUInt16LE(idBytes.length, 0);
  idBytes.copy(head, 2);
  return head;
}

/** The first 16 header octets (the CRC after them is the caller's). */
function writeHeader(header: Buffer, generation: number, type: number, payloadLength: number): void {
  header.writeUInt32LE(MAGIC, 0);
  header.writeUInt32LE(generation, 4);
  header.writeUInt32LE(type, 8); // type u8 and its 3 zero octets
  header.writeUInt32LE(payloadLength, 12);
}

function seal(generation: number, type: number, payload: Buffer[]): Buffer[] {
  const header = Buffer.alloc(HEADER);
  writeHeader(
    header,
    generation,
    type,
    payload.reduce((n, b) => n + b.length, 0),
  );
  let crc = crc32(header.subarray(0, 16));
  for (const b of payload) crc = crc32(b, crc);
  header.writeUInt32LE(crc >>> 0, 16);
  return [header, ...payload];
}

/** Reads the record at `at` in a segment of generation `generation`. */
export function parse(segment: Buffer, at: number, generation: number): Parsed {
  if (at + HEADER > segment.length) return { kind: 'end' };
  const magic = segment.readUInt32LE(at);
  if (magic === 0 && segment.subarray(at, at + HEADER).every((b) => b === 0)) return { kind: 'end' };
  if (magic !== MAGIC) return { kind: 'torn' };
  if (segment.readUInt32LE(at + 4) !== generation) return { kind: 'end' };
  const type = segment.readUInt8(at + 8);
  const length = segment.readUInt32LE(at + 12);
  const end = at + HEADER + length;
  if (end > segment.length) return { kind: 'torn' };
  const crc = crc32(segment.subarray(at + HEADER, end), crc32(segment.subarray(at, at + 16)));
  if (crc >>> 0 !== segment.readUInt32LE(at + 16)) return { kind: 'torn' };
  const p = at + HEADER;
  if (type === DONE) return { kind: 'record', record: { type: 'done', id: segment.toString('latin1', p, end) }, size: HEADER + length };
  if (type !== MESSAGE && type !== STATE) return { kind: 'torn' };
  const idLength = segment.readUInt16LE(p);
  const id = segment.toString('latin1', p + 2, p + 2 + idLength);
  if (type === STATE)
    return { kind: 'record', record: { type: 'state', id, state: segment.toString('utf8', p + 2 + idLength, end) }, size: HEADER + length };
  const envLength = segment.readUInt32LE(p + 2 + idLength);
  const envStart = p + 2 + idLength + 4;
  const envelope = segment.toString('utf8', envStart, envStart + envLength);
  const bodyOffset = envStart + envLength - at;
  return {
    kind: 'record',
    record: { type: 'message', id, envelope, bodyOffset, bodyLength: HEADER + length - bodyOffset },
    size: HEADER + length,
  };
}
