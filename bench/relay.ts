/**
 * Relay rows: messages per second through Barge end to end (receive, spool with fsync, deliver
 * to a sink on loopback, remove from the queue), and MB/s for one large message relayed by BDAT
 * or by DATA, with the relay's peak RSS.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { bulk, sendCount } from './load-generator.js';
import { rssSampler, startBarge, type ServerUnderTest } from './servers.js';

async function drained(relay: ServerUnderTest, timeoutMs = 600_000): Promise<void> {
  const queue = join(relay.dataDir ?? '', 'spool', 'queue');
  const deadline = Date.now() + timeoutMs;
  while ((await readdir(queue)).length > 0) {
    if (Date.now() > deadline) throw new Error('relay queue did not drain');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A relay routing `sink.bench` to `sinkPort`; the outbound mask picks BDAT (7) or DATA (5). */
export async function startRelay(sinkPort: number, outboundMask = 7): Promise<ServerUnderTest> {
  const config = `[delivery]\noutbound_command_support = ${outboundMask}\n`;
  return startBarge(['--route', `sink.bench=127.0.0.1:${sinkPort}`], 'Barge relay', undefined, undefined, config);
}

/** Messages per second from first submission until the relay's queue is empty again. */
export async function relayRate(relay: ServerUnderTest, message: Buffer, count: number, connections: number): Promise<number> {
  const started = performance.now();
  await sendCount(relay.port, 'x@sink.bench', message, 'BDAT', connections, count);
  await drained(relay);
  return count / ((performance.now() - started) / 1000);
}

/** MB/s for one large message from submission until it has left the relay; and the relay's peak RSS. */
export async function relayBulk(relay: ServerUnderTest, message: Buffer): Promise<{ mbps: number; rss: number }> {
  const sampler = rssSampler(relay.pid);
  const started = performance.now();
  await bulk(relay.port, 'x@sink.bench', message, 'BDAT');
  await drained(relay);
  const seconds = (performance.now() - started) / 1000;
  return { mbps: message.length / 1e6 / seconds, rss: await sampler.stop() };
}
