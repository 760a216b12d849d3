/**
 * The tracking log's Message-ID index: for each day, `<tracking dir>/index/track-YYYYMMDD.mid`,
 * appended as messages are received (tracking.ts), one line per message that had a Message-ID:
 *
 *   `<time> <queue id> <Message-ID>`
 *
 * with the time as base-36 milliseconds and the Message-ID in lower case (searches ignore case;
 * whitespace and control characters become `_`). A Message-ID says nothing of when its message
 * came, so a search reads these files newest day first; a line is about a sixth of its receipt's
 * in the day file, and the files are searched as raw bytes, a block at a time, without cutting
 * lines out. Like the other index files it begins with `# indexed from <time>` (tracking-index.ts).
 */
import { join } from 'node:path';
import { chunksBackward, openLog, type ReadBudget } from './line-reader.js';
import { base36, coveredFrom, INDEX_FOLDER } from './tracking-index.js';

const UNSAFE = /[\s\p{Cc}]/gu;
const LF = 0x0a;

export function messageIdPath(dir: string, day: string): string {
  return join(dir, INDEX_FOLDER, `track-${day}.mid`);
}

const asField = (messageId: string): string => messageId.toLowerCase().replace(UNSAFE, '_');

export function messageIdLine(id: string, time: number, messageId: string): string {
  return `${base36(time)} ${id} ${asField(messageId)}\n`;
}

export interface MessageIdHit {
  readonly id: string;
  readonly time: number;
}

export interface MessageIdHits {
  /** Newest first. */
  readonly hits: MessageIdHit[];
  /** When the file began to hold every receipt of its day; earlier ones are only in the day file. */
  readonly coveredFrom: number | undefined;
  /** The time of the oldest line read (ms). */
  readonly reached: number | undefined;
}

/** The receipts of day `day` whose Message-ID contains `needle` (any case), newest first, at most `limit`; undefined without the file. */
export async function messageIdHits(
  dir: string,
  day: string,
  needle: string,
  limit: number,
  budget: ReadBudget,
): Promise<MessageIdHits | undefined> {
  const handle = await openLog(messageIdPath(dir, day));
  if (handle === undefined) return undefined;
  const pattern = Buffer.from(asField(needle));
  const hits: MessageIdHit[] = [];
  let reached: number | undefined;
  try {
    const from = await coveredFrom(handle, budget);
    reading: for await (const chunk of chunksBackward(handle, { budget })) {
      const oldest = parseInt(chunk.toString('latin1', 0, 9), 36);
      if (!Number.isNaN(oldest)) reached = oldest;
      const found: MessageIdHit[] = [];
      for (let at = chunk.indexOf(pattern); at >= 0; ) {
        const start = chunk.lastIndexOf(LF, at) + 1;
        const end = chunk.indexOf(LF, at);
        const [time36, id, messageId] = chunk.toString('latin1', start, end).split(' ', 3);
        // The needle must be inside the Message-ID, the third field.
        if (
          time36 !== undefined &&
          id !== undefined &&
          messageId?.includes(pattern.toString('latin1')) === true &&
          !time36.startsWith('#')
        ) {
          found.push({ id, time: parseInt(time36, 36) });
        }
        at = chunk.indexOf(pattern, end + 1);
      }
      for (const hit of found.reverse()) {
        hits.push(hit);
        if (hits.length >= limit) break reading;
      }
    }
    return { hits, coveredFrom: from, reached };
  } finally {
    await handle.close();
  }
}
