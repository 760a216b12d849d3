/**
 * The protocol log in W3C extended format, as the classic Windows SMTP service (SMTPSVC) wrote it,
 * so that existing log readers (Log Parser, SIEM importers, admins' scripts) keep working.
 *
 * Contract: one CRLF-terminated line per command or reply, fields in `#Fields` order, `-` for empty,
 * spaces inside values as `+`, and no value can ever split or break a line (control characters and
 * line separators become `+`). Files are `exYYMMDD.log` by the UTC date of each entry, under the
 * listener's folder (e.g. `<dataDir>/log/SMTPSVC1`). Each time a file is opened (new day, restart,
 * recovery after a write error) a header block is written first, as IIS did. `write()` never throws
 * and never blocks; while the disk is behind, `congested` asks connections to wait (see appender.ts
 * for ordering, bounded memory and error reporting).
 */
import { join } from 'node:path';
import { Appender } from './appender.js';
import { realClock, type Clock } from '../time/clock.js';
import { parseFieldList } from './w3c-fields.js';

export interface ProtocolLogEntry {
  readonly time: Date;
  readonly clientIp: string; // c-ip (for outbound lines: the remote server's IP)
  readonly username?: string; // cs-username: the client's EHLO/HELO name inbound (later the authenticated user); 'OutboundConnectionCommand' / 'OutboundConnectionResponse' outbound
  readonly serverIp?: string; // s-ip
  readonly serverPort?: number; // s-port
  readonly method: string; // cs-method: the SMTP verb (EHLO, MAIL, BDAT, ...)
  readonly uriStem?: string; // cs-uri-stem, usually empty
  readonly query?: string; // cs-uri-query: the command's arguments (spaces become '+')
  readonly status: number; // sc-status: the reply code (240 for QUIT, 0 for outbound lines)
  readonly win32Status?: number;
  readonly bytesSent?: number; // sc-bytes
  readonly bytesReceived?: number; // cs-bytes
  readonly timeTakenMs?: number;
}

export interface W3cLogOptions {
  /** The listener's folder, e.g. `<dataDir>/log/SMTPSVC1`; created if missing. */
  readonly dir: string;
  readonly fields: readonly string[];
  /** s-sitename, e.g. "SMTPSVC1". */
  readonly siteName: string;
  /** s-computername. */
  readonly computerName: string;
  /** The whole `#Software` value, e.g. "Barge 0.1.0"; "Barge" when omitted. */
  readonly software?: string;
  /** Clock for the `#Date` header line: when the first line of the block was written. */
  readonly clock?: Clock;
  readonly onError?: (e: Error) => void;
  /** Bound on buffered bytes while the disk is slow; see appender.ts. */
  readonly maxBufferBytes?: number;
}

/**
 * Any whitespace (a field separator to W3C readers), control character (C0, DEL, C1) or Unicode
 * line/paragraph separator becomes `+`, so a hostile argument cannot forge a field or a line.
 */
const UNSAFE = /[\s\p{Cc}\p{Zl}\p{Zp}]/gu;

/** A value as a W3C token: `-` when empty, `+` for anything that could split it. */
export function w3cValue(value: string | number | undefined): string {
  if (value === undefined) return '-';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '-';
  return value === '' ? '-' : printableAscii(value) ? value : value.replace(UNSAFE, '+');
}

/** Printable ASCII without spaces needs no replacing: most values, checked without the Unicode pattern. */
function printableAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

const pad = (n: number): string => String(n).padStart(2, '0');
const isoDate = (d: Date): string => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
const isoTime = (d: Date): string => `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;

/** `exYYMMDD.log` for the UTC date of `d`. */
export function w3cFileName(d: Date): string {
  return `ex${pad(d.getUTCFullYear() % 100)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}.log`;
}

export class W3cLog {
  readonly #dir: string;
  readonly #fields: readonly string[];
  readonly #siteName: string;
  readonly #computerName: string;
  readonly #out: Appender;
  readonly #clock: Clock;
  /** The date and time fields of the current second, built once per second. */
  #second = Number.NaN;
  #stampText = { date: '', time: '' };
  /** The file for the current UTC day, so a line costs no path building. */
  #day = Number.NaN;
  #path = '';

  /** Throws on an unknown field name: configuration errors should stop startup, not logging. */
  constructor(options: W3cLogOptions) {
    this.#dir = options.dir;
    this.#fields = parseFieldList(options.fields);
    this.#siteName = options.siteName;
    this.#computerName = options.computerName;
    const software = w3cHeaderText(options.software ?? 'Barge');
    this.#clock = options.clock ?? realClock;
    const fieldsLine = `#Fields: ${this.#fields.join(' ')}\r\n`;
    this.#out = new Appender({
      maxBufferBytes: options.maxBufferBytes,
      onError: options.onError,
      clock: this.#clock,
      header: (_path, d) => {
        return `#Software: ${software}\r\n#Version: 1.0\r\n#Date: ${isoDate(d)} ${isoTime(d)}\r\n${fieldsLine}`;
      },
      notice: (count) => `#Remark: ${count} lines dropped\r\n`,
    });
  }

  /** Queues one line; never throws. */
  write(entry: ProtocolLogEntry): void {
    try {
      const time = Number.isNaN(entry.time.getTime()) ? this.#clock.now() : entry.time;
      // One string built in place: a flood logs millions of lines, so no array or closure per line.
      let line = '';
      for (const f of this.#fields) line += line === '' ? this.#value(f, entry, time) : ` ${this.#value(f, entry, time)}`;
      this.#out.append(this.#pathFor(time), `${line}\r\n`);
    } catch {
      // Unreachable with well-typed entries; a log line is never worth an exception in a session.
    }
  }

  /** Lines are waiting for a slow disk: a connection should stop reading until `onDrain`. */
  get congested(): boolean {
    return this.#out.congested;
  }

  onDrain(fn: () => void): void {
    this.#out.onDrain(fn);
  }

  /** Bytes of lines waiting to be written. */
  get bufferedBytes(): number {
    return this.#out.bufferedBytes;
  }

  flush(): Promise<void> {
    return this.#out.flush();
  }

  #stamp(time: Date): { readonly date: string; readonly time: string } {
    const second = Math.floor(time.getTime() / 1000);
    if (second !== this.#second) {
      this.#second = second;
      this.#stampText = { date: isoDate(time), time: isoTime(time) };
    }
    return this.#stampText;
  }

  #pathFor(time: Date): string {
    const day = Math.floor(time.getTime() / 86_400_000);
    if (day !== this.#day) {
      this.#day = day;
      this.#path = join(this.#dir, w3cFileName(time));
    }
    return this.#path;
  }

  close(): Promise<void> {
    return this.#out.close();
  }

  #value(field: string, e: ProtocolLogEntry, time: Date): string {
    switch (field) {
      case 'date':
        return this.#stamp(time).date;
      case 'time':
        return this.#stamp(time).time;
      case 'c-ip':
        return w3cValue(e.clientIp);
      case 'cs-username':
        return w3cValue(e.username);
      case 's-sitename':
        return w3cValue(this.#siteName);
      case 's-computername':
        return w3cValue(this.#computerName);
      case 's-ip':
        return w3cValue(e.serverIp);
      case 'cs-method':
        return w3cValue(e.method);
      case 'cs-uri-stem':
        return w3cValue(e.uriStem);
      case 'cs-uri-query':
        return w3cValue(e.query);
      case 'sc-status':
        return w3cValue(e.status);
      case 'sc-win32-status':
        return w3cValue(e.win32Status);
      case 'sc-bytes':
        return w3cValue(e.bytesSent);
      case 'cs-bytes':
        return w3cValue(e.bytesReceived);
      case 'time-taken':
        return w3cValue(e.timeTakenMs);
      case 's-port':
        return w3cValue(e.serverPort);
      case 'cs-version':
        return 'SMTP';
      // cs(User-Agent), cs(Cookie), cs(Referer) and cs-host have no SMTP meaning; IIS wrote '-'.
      default:
        return '-';
    }
  }
}

/** Header values may contain spaces but never line breaks. */
function w3cHeaderText(text: string): string {
  return text.replace(/[\p{Cc}\p{Zl}\p{Zp}]/gu, ' ');
}

/**
 * Reads a W3C log back into records keyed by field name. Each `#Fields` directive applies to the
 * lines after it; other directives and blank lines are skipped. Lines may end in CRLF or LF.
 */
export function parseW3cLog(text: string): Array<Record<string, string>> {
  const records: Array<Record<string, string>> = [];
  let fields: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      if (line.startsWith('#Fields:')) fields = line.slice('#Fields:'.length).trim().split(/ +/);
      continue;
    }
    const values = line.split(' ');
    const record: Record<string, string> = {};
    fields.forEach((name, i) => {
      record[name] = values[i] ?? '-';
    });
    records.push(record);
  }
  return records;
}
