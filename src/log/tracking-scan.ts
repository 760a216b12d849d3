/**
 * A tracking day file read backwards for a search, on its raw bytes: most lines are only looked at,
 * never decoded. The writer's layout (tracking.ts) puts every line as `{"time":"<ISO>","event":"…"`
 * and the outcome events on as `,"id":"…","rcpt":"…"`, so the time, the event, and an outcome's
 * queue id and recipient are read at known places (and kept as hashes, not strings); only a receipt
 * that passes the search's cheap test is decoded and parsed. A line of another layout is parsed whole.
 *
 * Contract: `scanBackward` calls `receipt` with each receipt passing `criteria` (texts its line must
 * contain in any ASCII case; the caller checks the parsed receipt exactly), newest first, until it returns true, until a line older
 * than `since`, or until the budget is spent; outcomes met on the way wait in `pending` (reading
 * backwards, they come before their receipt) and are dropped once the reading passes their
 * message's arrival (its queue id's time), so memory holds only the messages in flight over the
 * stretch read.
 */
import type { FileHandle } from 'node:fs/promises';
import { chunksBackward, type ReadBudget } from './line-reader.js';
import type { Received } from './tracking-query.js';
import { parseTrackingLine } from './tracking.js';

export const ascii = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));
const TIME_AT = 9;
/** Where the event's name starts in a line of the writer's layout. */
export const NAME_AT = 44;
const ID = ascii(',"id":"');
const RCPT = ascii(',"rcpt":"');
const OUTCOMES = ['delivered', 'deferred', 'bounced'] as const;
type Outcome = (typeof OUTCOMES)[number];
const LF = 0x0a;
export const QUOTE = 0x22;
/** Outcomes kept at most for ids that do not say when they arrived (not Barge's queue ids). */
const UNDATED_CAP = 10_000;

export function bytesAt(buf: Buffer, at: number, expected: Uint8Array): boolean {
  if (at + expected.length > buf.length) return false;
  for (let i = 0; i < expected.length; i++) if (buf[at + i] !== expected[i]) return false;
  return true;
}

/** `{"time":"` at `s` and `","event":"` after the time: the writer's layout. */
export function inLayout(b: Buffer, s: number): boolean {
  return (
    b[s] === 0x7b &&
    b[s + 1] === QUOTE &&
    b[s + 2] === 0x74 &&
    b[s + 8] === QUOTE &&
    b[s + 33] === QUOTE &&
    b[s + 34] === 0x2c &&
    b[s + 41] === QUOTE &&
    b[s + 43] === QUOTE
  );
}

/** The event named at `s + NAME_AT` (its closing quote at `q`): a receipt, an outcome, or another. */
function eventAt(b: Buffer, s: number, q: number): 'received' | Outcome | undefined {
  const length = q - s - NAME_AT;
  const first = b[s + NAME_AT];
  const third = b[s + NAME_AT + 2];
  if (first === 0x72 && third === 0x63 && length === 8) return 'received';
  if (first === 0x64 && third === 0x6c && length === 9) return 'delivered';
  if (first === 0x64 && third === 0x66 && length === 8) return 'deferred';
  if (first === 0x62 && length === 7) return 'bounced';
  return undefined;
}

/**
 * A 53-bit hash of bytes: outcomes are kept by the hashes of their queue id and recipient, so the
 * millions of lines a search may pass make no strings (a clash between two of the few thousand
 * messages in flight is about as likely as a cosmic ray).
 */
function hash(b: Uint8Array, start: number, end: number): number {
  let h1 = 0x811c9dc5;
  let h2 = 0x9747b28c ^ (end - start);
  for (let i = start; i < end; i++) {
    const c = b[i] ?? 0;
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
  }
  return (h1 >>> 0) * 0x200000 + ((h2 >>> 0) & 0x1fffff);
}

const hashText = (text: string): number => {
  const b = Buffer.from(text);
  return hash(b, 0, b.length);
};

/** The arrival a queue id's bytes carry (queue/ids.ts), or NaN. */
function arrivalAt(b: Uint8Array, start: number, end: number): number {
  if (end - start !== 19) return Number.NaN;
  let t = 0;
  for (let i = start; i < start + 9; i++) {
    const c = b[i] ?? 0;
    const digit = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x41 && c <= 0x5a ? c - 0x37 : -1;
    if (digit < 0) return Number.NaN;
    t = t * 36 + digit;
  }
  return t;
}

/** Outcomes read before their message's receipt, by queue id; the newest per recipient wins. */
export class PendingOutcomes {
  readonly #byId = new Map<number, { readonly arrival: number; readonly outcomes: Map<number, Outcome> }>();

  /** An outcome whose queue id and recipient are the bytes `id` and `rcpt` of `b`. */
  noteBytes(b: Buffer, id: readonly [number, number], rcpt: readonly [number, number], event: Outcome): void {
    const key = hash(b, id[0], id[1]);
    let p = this.#byId.get(key);
    if (p === undefined) this.#byId.set(key, (p = { arrival: arrivalAt(b, id[0], id[1]), outcomes: new Map() }));
    const to = hash(b, rcpt[0], rcpt[1]);
    if (!p.outcomes.has(to)) p.outcomes.set(to, event);
  }

  note(id: string, rcpt: string, event: Outcome): void {
    const idBytes = Buffer.from(id);
    const rcptBytes = Buffer.from(rcpt);
    const both = Buffer.concat([idBytes, rcptBytes]);
    this.noteBytes(both, [0, idBytes.length], [idBytes.length, both.length], event);
  }

  /** The outcomes of a message whose receipt was reached, keyed by its recipients. */
  take(r: Received): Map<string, string> {
    const key = hashText(r.id);
    const m = this.#byId.get(key)?.outcomes;
    this.#byId.delete(key);
    return new Map(
      r.rcpts.flatMap((x) => {
        const outcome = m?.get(hashText(x));
        return outcome === undefined ? [] : [[x, outcome] as const];
      }),
    );
  }

  /** The reading has gone back past `ms`: a message that arrived later has had its receipt read. */
  passed(ms: number): void {
    for (const [id, p] of this.#byId) if (Number.isNaN(p.arrival) ? this.#byId.size > UNDATED_CAP : p.arrival > ms) this.#byId.delete(id);
  }
}

export interface BackwardScan {
  readonly budget: ReadBudget;
  /** Where to start reading back from (default: the end). */
  readonly end?: number;
  /** ISO time: lines before it end the scan. */
  readonly since?: string;
  readonly criteria: readonly string[];
  readonly pending: PendingOutcomes;
  /** A receipt passing the criteria, parsed; true ends the scan. */
  readonly receipt: (r: Received) => boolean;
}

export interface ScanEnd {
  /** Why it ended before the file's start: the page is full, or `since` was passed. */
  readonly stopped: boolean;
  /** The time (ISO) of the oldest line read. */
  readonly reached: string | undefined;
}

/** A line not in the writer's layout, parsed whole. */
function handleParsed(line: string, scan: BackwardScan): boolean {
  const r = parseTrackingLine(line);
  if (r === undefined) return false;
  if (r.event === 'delivered' || r.event === 'deferred' || r.event === 'bounced') scan.pending.note(r.id, r.rcpt, r.event);
  return r.event === 'received' && scan.receipt(r);
}

export async function scanBackward(handle: FileHandle, scan: BackwardScan): Promise<ScanEnd> {
  const since = scan.since === undefined ? undefined : ascii(scan.since);
  // As they appear in a line: JSON-escaped; only ASCII ones, matched in any ASCII case on the line's bytes.
  const criteria = scan.criteria
    .map((c) => JSON.stringify(c).slice(1, -1))
    .filter((c) => /^[\x20-\x7e]*$/.test(c))
    .map((c) => new RegExp(c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i'));
  let reached: string | undefined;
  for await (const chunk of chunksBackward(handle, { budget: scan.budget, ...(scan.end === undefined ? {} : { end: scan.end }) })) {
    let oldest = -1;
    for (let e = chunk.length - 1; e > 0; ) {
      const s = chunk.lastIndexOf(LF, e - 1) + 1;
      const end = e;
      e = s - 1;
      if (end - s < NAME_AT + 8 || !inLayout(chunk, s)) {
        if (end > s && handleParsed(chunk.toString('utf8', s, end), scan)) return { stopped: true, reached };
        continue;
      }
      oldest = s;
      if (since !== undefined && chunk.compare(since, 0, 24, s + TIME_AT, s + TIME_AT + 24) < 0) {
        return { stopped: true, reached: chunk.toString('latin1', s + TIME_AT, s + TIME_AT + 24) };
      }
      const q = chunk.indexOf(QUOTE, s + NAME_AT);
      const event = eventAt(chunk, s, q);
      if (event === undefined) continue;
      if (event !== 'received') {
        const idEnd = bytesAt(chunk, q + 1, ID) ? chunk.indexOf(QUOTE, q + 1 + ID.length) : -1;
        const rcptEnd = idEnd > 0 && bytesAt(chunk, idEnd + 1, RCPT) ? chunk.indexOf(QUOTE, idEnd + 1 + RCPT.length) : -1;
        if (rcptEnd < 0 || rcptEnd >= end || chunk[rcptEnd - 1] === 0x5c) handleParsed(chunk.toString('utf8', s, end), scan);
        else scan.pending.noteBytes(chunk, [q + 1 + ID.length, idEnd], [idEnd + 1 + RCPT.length, rcptEnd], event);
        continue;
      }
      // A receipt: the search's texts are looked for in its bytes (as latin1) before it is decoded.
      if (criteria.length > 0) {
        const bytes = chunk.toString('latin1', s, end);
        if (!criteria.every((c) => c.test(bytes))) continue;
      }
      const r = parseTrackingLine(chunk.toString('utf8', s, end));
      if (r?.event === 'received' && scan.receipt(r)) return { stopped: true, reached };
    }
    if (oldest >= 0) {
      reached = chunk.toString('latin1', oldest + TIME_AT, oldest + TIME_AT + 24);
      scan.pending.passed(Date.parse(reached));
    }
  }
  return { stopped: false, reached };
}
