/**
 * The message tracking log: one JSON object per line recording each message's fate (received or
 * rejected, then per recipient delivered, deferred or bounced, then completed), including the
 * transfer method (DATA or BDAT, chunk count) so fallbacks can be audited.
 *
 * Contract: `record()` stamps the event with `time` (ISO 8601, UTC) and appends it to
 * `track-YYYYMMDD.jsonl` (UTC date) under `dir`; it is synchronous, ordered and never throws.
 * JSON.stringify escapes CR, LF and every other control character, so one event is always one line.
 * Writing, bounded buffering and error reporting are shared with the W3C log (appender.ts); texts
 * lost to a full buffer or a write error are counted in a `{"time":...,"dropped":N}` line, which
 * `readTrackingLog` skips because it is not an event.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Appender } from './appender.js';
import { realClock, type Clock } from '../time/clock.js';

export type TransferMethod = 'DATA' | 'BDAT';
export type TrackingEvent =
  | { event: 'received'; id: string; listener: string; clientIp: string; helo: string; from: string; rcpts: readonly string[]; size: number;
      body: '7BIT' | '8BITMIME' | 'BINARYMIME'; smtputf8: boolean; method: TransferMethod; chunks: number; envid?: string; messageId?: string }
  | { event: 'rejected'; listener: string; clientIp: string; from: string; reason: string; method: TransferMethod | 'NONE' }
  | { event: 'delivered'; id: string; rcpt: string; via: 'maildir' | 'smtp'; detail: string; method?: TransferMethod; chunks?: number; fallback?: string; tlsPolicy?: string }
  | { event: 'deferred'; id: string; rcpt: string; reason: string; nextAttempt?: string }
  | { event: 'bounced'; id: string; rcpt: string; reason: string }
  | { event: 'completed'; id: string }
  /** A path quirk learnt for a destination: BDAT or TLS avoided there until `until`. */
  | { event: 'quirk'; destination: string; kind: 'no-bdat' | 'no-tls' | 'big-chunks'; reason: string; until: string }
  /** DKIM signatures added when a message was queued for relay ("domain/selector"), after any conversion to 7-bit. */
  | { event: 'signed'; id: string; signatures: readonly string[]; converted?: string }
  /** Inbound SPF/DKIM/DMARC results (the Authentication-Results value) and what the listener's policy did. */
  | { event: 'authenticated'; id: string; clientIp: string; results: string; action: 'accept' | 'junk' | 'reject' }
  /** TLS-RPT (RFC 8460) material: the policy a delivery to a domain was held to, and how the attempt went. */
  | { event: 'tls-policy'; id: string; domain: string; policy: string; result: 'success' | 'failure'; detail?: string }
  /**
   * A throw in Barge's own code, caught by the error boundary of one inbound connection or one outbound
   * delivery (bug.ts): that session alone ended. `connection`/`clientIp` name an inbound one, `id` and
   * `destination` an outbound one.
   */
  | { event: 'bug'; where: 'inbound' | 'outbound'; message: string; stack: string; connection?: string; clientIp?: string; id?: string; destination?: string };
export type TrackingRecord = TrackingEvent & { time: string };

const EVENTS: ReadonlySet<string> = new Set(['received', 'rejected', 'delivered', 'deferred', 'bounced', 'completed', 'quirk', 'signed', 'authenticated', 'tls-policy', 'bug']);
const FILE = /^track-\d{8}\.jsonl$/;

export interface TrackingLogOptions {
  /** `<dataDir>/log/tracking`; created if missing. */
  readonly dir: string;
  readonly clock?: Clock;
  readonly onError?: (e: Error) => void;
  /** Bound on buffered bytes while the disk is slow; see appender.ts. */
  readonly maxBufferBytes?: number;
}

/** `track-YYYYMMDD.jsonl` for the UTC date of `d`. */
export function trackingFileName(d: Date): string {
  return `track-${d.toISOString().slice(0, 10).replaceAll('-', '')}.jsonl`;
}

export class TrackingLog {
  readonly #dir: string;
  readonly #clock: Clock;
  readonly #out: Appender;
  /** The file for the current UTC day (`YYYY-MM-DD` of the stamp), so an event costs no path building. */
  #day = '';
  #path = '';

  constructor(options: TrackingLogOptions) {
    this.#dir = options.dir;
    this.#clock = options.clock ?? realClock;
    this.#out = new Appender({
      maxBufferBytes: options.maxBufferBytes,
      onError: options.onError,
      clock: this.#clock,
      notice: (count) => `${JSON.stringify({ time: this.#stamp(), dropped: count })}\n`,
    });
  }

  /** Queues one event; never throws. */
  record(event: TrackingEvent): void {
    try {
      const time = this.#stamp();
      // `time` first, so the files read well with grep and sort; spliced in rather than copying the
      // event into a new object (an event always has at least its `event` member after the brace).
      const line = `{"time":"${time}",${JSON.stringify(event).slice(1)}\n`;
      if (this.#day === '' || !time.startsWith(this.#day)) {
        this.#day = time.slice(0, 10);
        this.#path = join(this.#dir, trackingFileName(new Date(time)));
      }
      this.#out.append(this.#path, line);
    } catch {
      // Unreachable with well-typed events (no cycles, no BigInt); tracking is never worth a crash.
    }
  }

  flush(): Promise<void> {
    return this.#out.flush();
  }

  close(): Promise<void> {
    return this.#out.close();
  }

  /** A valid ISO time even if the injected clock returns an invalid Date. */
  #stamp(): string {
    const d = this.#clock.now();
    return (Number.isNaN(d.getTime()) ? new Date() : d).toISOString();
  }
}

/** A shallow check: the log is Barge's own output, but a reader must not trust a torn line. */
function isTrackingRecord(v: unknown): v is TrackingRecord {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as { event?: unknown; time?: unknown };
  return typeof r.time === 'string' && typeof r.event === 'string' && EVENTS.has(r.event);
}

/**
 * Every event under `dir`, oldest file first and in file order within each. A missing directory
 * means nothing was tracked yet. Lines that are not events (drop counts, a line torn by a crash
 * mid-write) are skipped. `since` skips the files of days before it (whole days only).
 */
export async function readTrackingLog(dir: string, since?: Date): Promise<TrackingRecord[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const records: TrackingRecord[] = [];
  // YYYYMMDD names sort lexically in date order.
  // With `since`, files of earlier days are not read at all.
  const first = since === undefined ? '' : trackingFileName(since);
  for (const name of names.filter((n) => FILE.test(n) && n >= first).sort()) {
    const text = await readFile(join(dir, name), 'utf8');
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        continue;
      }
      if (isTrackingRecord(value)) records.push(value);
    }
  }
  return records;
}
