/**
 * A month of log history on disk, written in seconds: tracking day files with their index files (as
 * the writer lays them out, through its own line formats) and one big W3C day file. Each file is
 * made of one block of realistic lines, repeated with its times and queue ids patched in place, and
 * written in large writes. One message's story is laid in the middle: it arrives at 23:50, is
 * deferred, deferred again after midnight and delivered at 04:00 the next day.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { FIRST_HOUR, indexHeader, indexLine, indexPath } from '../../src/log/tracking-index.js';
import { messageIdLine, messageIdPath } from '../../src/log/tracking-message-ids.js';
import { dayKey, dayStart } from '../../src/log/tracking-lines.js';
import type { TrackingEvent } from '../../src/log/tracking.js';
import { w3cFileName } from '../../src/log/w3c.js';

const DAY = 86_400_000;
/** Messages per block: about a MiB of tracking lines. */
const PER_BLOCK = 1400;
const ISO = 'YYYY-MM-DDTHH:MM:SS.mmmZ';
const ID_TIME = 'TTTTTTTTT';
const ID_TIME_LOWER = ID_TIME.toLowerCase();

/**
 * A block of lines with placeholders, filled in place for each copy: a value is written byte by byte
 * where its placeholder was (the values are ASCII and as long as their placeholders).
 */
class Template {
  readonly #block: Buffer;
  readonly #at: Array<[string, Int32Array]>;

  constructor(text: string, marks: readonly string[]) {
    this.#block = Buffer.from(text);
    this.#at = marks.map((m) => {
      const offsets: number[] = [];
      for (let i = this.#block.indexOf(m); i >= 0; i = this.#block.indexOf(m, i + 1)) offsets.push(i);
      return [m, Int32Array.from(offsets)];
    });
  }

  get length(): number {
    return this.#block.length;
  }

  /** The block with each placeholder replaced by its value; valid until the next fill. */
  fill(values: Readonly<Record<string, string>>): Buffer {
    const block = this.#block;
    for (const [mark, offsets] of this.#at) {
      const value = Buffer.from(values[mark] ?? mark);
      for (const at of offsets) for (let j = 0; j < value.length; j++) block[at + j] = value[j] ?? 0;
    }
    return block;
  }
}

const queueId = (time: number, n: number): string =>
  `${time.toString(36).toUpperCase().padStart(9, '0')}${n.toString(16).toUpperCase().padStart(10, '0')}`;

const lineOf = (event: TrackingEvent, iso: string): string => `{"time":"${iso}",${JSON.stringify(event).slice(1)}\n`;

/** One message's three events, with placeholders for the block's time (the Message-ID's in lower case in its index). */
function fillerMessage(n: number): { track: string; index: string; mid: string } {
  const id = `${ID_TIME}${n.toString(16).toUpperCase().padStart(10, '0')}`;
  const messageId = `<${id}.${n}@example.org>`;
  const rcpt = `user${n}@example.net`;
  const events: Array<TrackingEvent & { id: string }> = [
    {
      event: 'received',
      id,
      listener: 'smtp',
      clientIp: `192.0.2.${n % 250}`,
      helo: `client${n}.example.org`,
      from: `sender${n}@example.org`,
      rcpts: [rcpt],
      size: 12_345 + n,
      body: '8BITMIME',
      smtputf8: false,
      method: 'BDAT',
      chunks: 2,
      messageId,
    },
    { event: 'delivered', id, rcpt, via: 'smtp', detail: '250 2.0.0 Ok: queued as 4Tx8Zq1bJzz9vB', method: 'BDAT', chunks: 2 },
    { event: 'completed', id },
  ];
  // The lines as the writer makes them, at time 0 (`000000000`), that field then made a placeholder.
  return {
    track: events.map((e) => lineOf(e, ISO)).join(''),
    index: events.map((e) => indexLine(e, 0).replace(` ${'0'.repeat(9)} `, ` ${ID_TIME} `)).join(''),
    mid: `${ID_TIME}${messageIdLine(id, 0, messageId).slice(9)}`,
  };
}

export interface BigHistory {
  /** The message whose story spans two days in the middle of the history. */
  readonly id: string;
  readonly sender: string;
  readonly messageId: string;
  /** Bytes of tracking day files and of index files written. */
  readonly trackingBytes: number;
  readonly indexBytes: number;
}

class DayWriter {
  readonly #fds: Map<string, number> = new Map();
  bytes = new Map<string, number>();

  write(path: string, data: Buffer | string): void {
    let fd = this.#fds.get(path);
    if (fd === undefined) {
      fd = openSync(path, 'a');
      this.#fds.set(path, fd);
    }
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    writeSync(fd, buf);
    this.bytes.set(path, (this.bytes.get(path) ?? 0) + buf.length);
  }

  close(): void {
    for (const fd of this.#fds.values()) closeSync(fd);
  }
}

/** `days` days of tracking history ending at `now` (today's up to now), `perDay` bytes a day. */
export function writeTrackingHistory(dir: string, now: number, days: number, perDay: number): BigHistory {
  mkdirSync(join(dir, 'index'), { recursive: true });
  const messages = Array.from({ length: PER_BLOCK }, (_, n) => fillerMessage(n));
  const track = new Template(messages.map((m) => m.track).join(''), [ISO, ID_TIME]);
  const index = new Template(messages.map((m) => m.index).join(''), [ID_TIME]);
  const mid = new Template(messages.map((m) => m.mid).join(''), [ID_TIME, ID_TIME_LOWER]);
  const blocksPerDay = Math.max(1, Math.round(perDay / track.length));
  const out = new DayWriter();
  const today = dayStart(dayKey(now));
  const storyDay = today - Math.floor(days / 2) * DAY;
  const arrival = storyDay + DAY - 600_000;
  const story = storyLines(arrival);
  const emitStory = (key: string, before: number): void => {
    for (const s of story.filter((x) => x.time < before && !x.done)) {
      s.done = true;
      out.write(join(dir, `track-${key}.jsonl`), s.line);
      out.write(indexPath(dir, key, s.time - arrival > FIRST_HOUR), s.index);
      if (s.mid !== undefined) out.write(messageIdPath(dir, key), s.mid);
    }
  };
  for (let d = today - (days - 1) * DAY; d <= today; d += DAY) {
    const key = dayKey(d);
    for (const later of [false, true]) out.write(indexPath(dir, key, later), indexHeader(d));
    out.write(messageIdPath(dir, key), indexHeader(d));
    for (let b = 0; b < blocksPerDay; b++) {
      const time = d + Math.floor(((DAY - 1000) * b) / blocksPerDay);
      if (time > now) break;
      emitStory(key, time);
      const base = queueId(time, 0).slice(0, 9);
      const values = { [ISO]: new Date(time).toISOString(), [ID_TIME]: base, [ID_TIME_LOWER]: base.toLowerCase() };
      out.write(join(dir, `track-${key}.jsonl`), track.fill(values));
      out.write(indexPath(dir, key), index.fill(values));
      out.write(messageIdPath(dir, key), mid.fill(values));
    }
    emitStory(key, d + DAY);
  }
  out.close();
  let trackingBytes = 0;
  let indexBytes = 0;
  for (const [path, n] of out.bytes) {
    if (path.endsWith('.jsonl')) trackingBytes += n;
    else indexBytes += n;
  }
  return {
    id: queueId(arrival - 200, 0xabcdef),
    sender: 'late-sender@example.org',
    messageId: '<story-1@Example.org>',
    trackingBytes,
    indexBytes,
  };
}

interface StoryLine {
  readonly time: number;
  readonly line: string;
  readonly index: string;
  readonly mid?: string;
  done: boolean;
}

function storyLines(arrival: number): StoryLine[] {
  const id = queueId(arrival - 200, 0xabcdef);
  const at = (time: number, event: TrackingEvent & { id: string }, mid?: string): StoryLine => ({
    time,
    line: lineOf(event, new Date(time).toISOString()),
    index: indexLine(event, time),
    done: false,
    ...(mid === undefined ? {} : { mid }),
  });
  const rcpt = 'slow@example.net';
  return [
    at(
      arrival,
      {
        event: 'received',
        id,
        listener: 'smtp',
        clientIp: '198.51.100.7',
        helo: 'late.example.org',
        from: 'late-sender@example.org',
        rcpts: [rcpt],
        size: 4321,
        body: '8BITMIME',
        smtputf8: false,
        method: 'BDAT',
        chunks: 3,
        messageId: '<story-1@Example.org>',
      },
      messageIdLine(id, arrival, '<story-1@Example.org>'),
    ),
    at(arrival + 1000, {
      event: 'deferred',
      id,
      rcpt,
      reason: '451 4.7.1 greylisted, try again',
      nextAttempt: new Date(arrival + 901_000).toISOString(),
    }),
    at(arrival + 1_800_000, {
      event: 'deferred',
      id,
      rcpt,
      reason: '451 4.7.1 still greylisted',
      nextAttempt: new Date(arrival + 3_600_000).toISOString(),
    }),
    at(arrival + 600_000 + 4 * 3_600_000, {
      event: 'delivered',
      id,
      rcpt,
      via: 'smtp',
      detail: '250 2.0.0 accepted at last',
      method: 'BDAT',
      chunks: 3,
    }),
    at(arrival + 600_005 + 4 * 3_600_000, { event: 'completed', id }),
  ];
}

/** A W3C day file of about `bytes` for `now`'s day in `folder`, default fields, with one entry from 203.0.113.77 near its end. */
export function writeW3cDay(folder: string, now: number, bytes: number): string {
  mkdirSync(folder, { recursive: true });
  const path = join(folder, w3cFileName(new Date(now)));
  const lines = Array.from(
    { length: 20_000 },
    (_, i) => `HH:MM:SS 192.0.2.${i % 250} ${['EHLO', 'MAIL', 'RCPT', 'BDAT', 'QUIT'][i % 5]} - ${i % 5 === 4 ? 240 : 250}\r\n`,
  ).join('');
  const block = new Template(lines, ['HH:MM:SS']);
  const out = new DayWriter();
  out.write(
    path,
    '#Software: Barge 0.1.0\r\n#Version: 1.0\r\n#Date: 2024-01-01 00:00:00\r\n#Fields: time c-ip cs-method cs-uri-stem sc-status\r\n',
  );
  const blocks = Math.round(bytes / block.length);
  const pad = (n: number): string => String(n).padStart(2, '0');
  for (let b = 0; b < blocks; b++) {
    const second = Math.floor((86_000 * b) / blocks);
    out.write(
      path,
      block.fill({ 'HH:MM:SS': `${pad(Math.floor(second / 3600))}:${pad(Math.floor(second / 60) % 60)}:${pad(second % 60)}` }),
    );
    if (b === blocks - 3) out.write(path, '23:50:00 203.0.113.77 RCPT - 550\r\n');
  }
  out.close();
  return path;
}
