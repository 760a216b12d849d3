/**
 * A tracking log written by the real writer under a virtual clock: three UTC days of traffic (other
 * messages delivered at once) around one message that arrives just before midnight, is deferred
 * twice and delivered the next morning. For tests of the story, the index and the search.
 */
import { makeIdSource } from '../../src/message/queue-id.js';
import { TrackingLog, type TrackingEvent } from '../../src/log/tracking.js';
import { clockAt } from './virtual-clock.js';

export interface History {
  /** The message deferred over the day boundary, its Message-ID and its events in order. */
  readonly late: string;
  readonly lateMessageId: string;
  readonly lateEvents: readonly string[];
  /** A message delivered at once on the second day. */
  readonly quick: string;
  readonly quickMessageId: string;
  /** Messages received in all, newest last. */
  readonly received: readonly string[];
}

export const DAY1 = Date.parse('2024-03-05T00:00:00Z');

export async function writeHistory(dir: string, perDay = 2000): Promise<History> {
  let t = DAY1;
  const clock = clockAt(() => new Date(t));
  const nextId = makeIdSource(clock);
  const log = new TrackingLog({ dir, clock });
  const received: string[] = [];
  const receive = (from: string, rcpt: string, messageId: string): string => {
    const id = nextId();
    received.push(id);
    const event: TrackingEvent = {
      event: 'received',
      id,
      listener: 'smtp',
      clientIp: '192.0.2.1',
      helo: 'client.example',
      from,
      rcpts: [rcpt],
      size: 1234,
      body: '8BITMIME',
      smtputf8: false,
      method: 'BDAT',
      chunks: 2,
      messageId,
    };
    log.record(event);
    return id;
  };
  const quickOne = (i: number): string => {
    const id = receive(`sender${i}@example.org`, `user${i}@example.net`, `<noise-${i}@example.org>`);
    t += 5;
    log.record({ event: 'delivered', id, rcpt: `user${i}@example.net`, via: 'smtp', detail: '250 2.0.0 ok', method: 'BDAT', chunks: 2 });
    log.record({ event: 'completed', id });
    return id;
  };
  /** Noise from `from` to `to` (ms), evenly spread. */
  const noise = async (from: number, to: number, n: number, start: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      t = from + Math.floor(((to - from) * i) / n);
      quickOne(start + i);
      if (i % 500 === 0) await log.flush();
    }
  };
  await noise(DAY1, DAY1 + 86_400_000 - 600_000, perDay, 0);
  t = DAY1 + 86_400_000 - 600_000; // 23:50 on the first day
  const lateMessageId = '<Late-1@Example.org>';
  const late = receive('late@example.org', 'slow@example.net', lateMessageId);
  t += 1000;
  log.record({
    event: 'deferred',
    id: late,
    rcpt: 'slow@example.net',
    reason: '451 4.7.1 try later',
    nextAttempt: new Date(t + 900_000).toISOString(),
  });
  await noise(t + 1000, DAY1 + 86_400_000, 50, perDay);
  t = DAY1 + 86_400_000 + 1_200_000; // 00:20 on the second day
  log.record({
    event: 'deferred',
    id: late,
    rcpt: 'slow@example.net',
    reason: '451 4.7.1 still later',
    nextAttempt: new Date(t + 1_800_000).toISOString(),
  });
  await noise(t + 1000, DAY1 + 86_400_000 + 4 * 3_600_000, perDay / 4, perDay + 50);
  t = DAY1 + 86_400_000 + 4 * 3_600_000; // 04:00
  log.record({ event: 'delivered', id: late, rcpt: 'slow@example.net', via: 'smtp', detail: '250 2.0.0 at last', method: 'DATA' });
  log.record({ event: 'completed', id: late });
  t += 1000;
  const quick = quickOne(999_999);
  const quickMessageId = '<noise-999999@example.org>';
  await noise(t + 1000, DAY1 + 3 * 86_400_000 - 1000, perDay * 2, 2 * perDay);
  await log.close();
  return {
    late,
    lateMessageId,
    quick,
    quickMessageId,
    received,
    lateEvents: ['received', 'deferred', 'deferred', 'delivered', 'completed'],
  };
}
