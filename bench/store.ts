/**
 * The spool's store alone, without SMTP: `concurrency` writers make 1 KB messages durable back to
 * back, as concurrent connections do, then retire each one, as delivery does. Compares the spool's
 * own API (which keeps small messages in the segment log) with the bare segment log (one gathered
 * write and one fdatasync per group; a DONE record when done) in the same run.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Spool } from '../src/queue/spool.js';
import { SegmentLog } from '../src/queue/store/segment-log.js';
import { makeIdSource } from '../src/message/queue-id.js';

export interface StoreRow {
  readonly store: string;
  readonly msgsPerSecond: number;
  /** Process CPU (user + system) per 1,000 messages stored and retired. */
  readonly cpuSecondsPer1000: number;
  /** Flushes per message (fsync or fdatasync calls the store issued for it). */
  readonly flushesPerMessage: number;
}

type Store = {
  readonly name: string;
  store(id: string, body: Buffer): Promise<void>;
  retire(id: string): Promise<void>;
  flushes(): number;
  close(): Promise<void>;
};

const envelope = (id: string): string =>
  JSON.stringify({
    id,
    receivedAt: new Date().toISOString(),
    transaction: { from: 'a@bench.test', rcpts: [{ address: 'b@bench.test', local: true }] },
  });

async function fileSpool(dir: string): Promise<Store> {
  const spool = await Spool.open(dir);
  return {
    name: 'Spool (segment log behind it)',
    async store(id, body) {
      const writer = spool.begin(id);
      writer.write(body);
      await spool.commit(writer, {
        id,
        receivedAt: new Date().toISOString(),
        listener: 'bench',
        clientIp: '127.0.0.1',
        helo: 'bench.test',
        protocol: 'ESMTP',
        method: 'DATA',
        chunks: 0,
        size: body.length,
        transaction: { from: 'a@bench.test', body: '7BIT', smtputf8: false, rcpts: [{ address: 'b@bench.test', local: true }] },
      });
    },
    retire: (id) => spool.remove(id),
    flushes: () => Number.NaN, // the log's flushes are its own
    close: () => spool.close(),
  };
}

async function segmentLog(dir: string): Promise<Store> {
  const { log } = await SegmentLog.open(dir);
  const check = (o: { kind: string; reason?: string }): void => {
    if (o.kind !== 'durable') throw new Error(o.reason);
  };
  return {
    name: 'segment log',
    store: async (id, body) => check(await log.append(id, envelope(id), [body])),
    retire: async (id) => check(await log.done(id)),
    flushes: () => log.syncs,
    close: () => log.close(),
  };
}

async function measure(make: (dir: string) => Promise<Store>, body: Buffer, concurrency: number, seconds: number): Promise<StoreRow> {
  const dir = await mkdtemp(join(tmpdir(), 'barge-bench-store-'));
  const store = await make(dir);
  const nextId = makeIdSource();
  const cpu = process.cpuUsage();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let count = 0;
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < deadline) {
          const id = nextId();
          await store.store(id, body);
          await store.retire(id);
          count++;
        }
      }),
    );
    const elapsed = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    return {
      store: store.name,
      msgsPerSecond: count / elapsed,
      cpuSecondsPer1000: ((used.user + used.system) / 1e6 / count) * 1000,
      flushesPerMessage: store.flushes() / count,
    };
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Both stores, 1 KB messages, measured one after the other in this process. */
export async function storeBench(seconds: number, concurrency = 20): Promise<StoreRow[]> {
  const body = Buffer.alloc(1024, 0x61);
  return [await measure(fileSpool, body, concurrency, seconds), await measure(segmentLog, body, concurrency, seconds)];
}

if (process.argv[1]?.endsWith('store.js') === true) {
  for (const row of await storeBench(Number(process.argv[2] ?? 5))) console.log(JSON.stringify(row));
}
