/**
 * A process that appends to a segment log as fast as it can, for tests that kill it with SIGKILL.
 * argv: DIR SEGMENT_SIZE FIRST_ID. Prints "recovered <json>" once, then "ack <id>" after each
 * durable append; for every third acknowledged message "retiring <id>", then "done <id>" once
 * its DONE record is durable.
 * A failed append prints "fail <id> <reason>".
 */
import { SegmentLog } from '../../src/queue/store/segment-log.js';

/** The body of message `id`: its length and content follow from the id, so a reader can check it. */
export function bodyOf(id: string): Buffer {
  const n = Number(id.slice(1));
  return Buffer.from(`${id}:`.repeat(1 + ((n * 97) % 400)));
}

const [dir, segmentSize, first] = process.argv.slice(2);
if (dir !== undefined && process.argv[1]?.endsWith('segment-log-writer.js') === true) {
  const { log, recovery } = await SegmentLog.open(dir, { segmentSize: Number(segmentSize) });
  process.stdout.write(`recovered ${JSON.stringify(recovery)}\n`);
  let next = Number(first ?? 0);
  const writer = async (): Promise<void> => {
    for (;;) {
      const id = `M${next++}`;
      const outcome = await log.append(id, JSON.stringify({ id }), [bodyOf(id)]);
      if (outcome.kind === 'failed') {
        process.stdout.write(`fail ${id} ${outcome.reason}\n`);
        return;
      }
      process.stdout.write(`ack ${id}\n`);
      if (Number(id.slice(1)) % 3 !== 0) continue;
      process.stdout.write(`retiring ${id}\n`);
      if ((await log.done(id)).kind === 'durable') process.stdout.write(`done ${id}\n`);
    }
  };
  await Promise.all(Array.from({ length: 20 }, writer));
}
