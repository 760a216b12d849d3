/**
 * Tells a sender what became of their message: turns DSN notices into one RFC 3464 report per
 * kind (failed, delayed, delivered), from the null sender so it can never bounce back, and puts
 * it into the spool like any received message. NOTIFY is honoured (RFC 3461 4.1); a message from
 * the null sender never gets one (RFC 5321 4.5.5).
 */
import type { Spool, SpoolEnvelope } from './spool.js';
import type { IdSource } from '../message/queue-id.js';
import type { DsnNotice } from './attempt.js';
import { buildDsn, wantsDsn, type DsnRecipient } from './dsn.js';
import { domainOf } from '../protocol/command.js';
import type { Clock } from '../time/clock.js';

export interface BounceDeps {
  readonly spool: Spool;
  readonly nextId: IdSource;
  readonly hostname: string;
  readonly localDomains: readonly string[];
  readonly clock: Clock;
  /** Hands a new entry to the queue runner. */
  readonly queued: (id: string, envelope: SpoolEnvelope) => void;
}

/** The header section of the original: RET=HDRS (and the default) returns only this. */
const MAX_RETURNED_HEADERS = 64 * 1024;

export async function sendNotices(deps: BounceDeps, original: SpoolEnvelope, notices: readonly DsnNotice[]): Promise<string[]> {
  const from = original.transaction.from;
  const ids: string[] = [];
  for (const action of ['failed', 'delayed', 'delivered', 'relayed'] as const) {
    const chosen = notices.filter((n) => n.action === action && wantsDsn(from, n.recipient.notify, action));
    if (chosen.length === 0) continue;
    const returnFull = action === 'failed' && original.transaction.ret === 'FULL';
    const recipients: DsnRecipient[] = chosen.map((n) => ({
      address: n.recipient.address,
      ...(n.recipient.orcpt === undefined ? {} : { orcpt: `${n.recipient.orcpt.type};${n.recipient.orcpt.address}` }),
      action: n.action,
      status: n.status,
      diagnostic: `smtp; ${n.detail}`,
      lastAttempt: deps.clock.now(),
      ...(n.remoteMta === undefined ? {} : { remoteMta: n.remoteMta }),
      ...(n.willRetryUntil === undefined ? {} : { willRetryUntil: n.willRetryUntil }),
    }));
    const originalBytes = await readOriginal(deps.spool, original, returnFull);
    const report = buildDsn({
      reportingMta: deps.hostname,
      envelope: original,
      recipients,
      original: originalBytes,
      returnFull,
      now: deps.clock.now(),
    });
    ids.push(await enqueue(deps, from, report, returnFull ? original.transaction.body : '8BITMIME'));
  }
  return ids;
}

async function readOriginal(spool: Spool, envelope: SpoolEnvelope, full: boolean): Promise<Buffer> {
  const parts: Buffer[] = [];
  let length = 0;
  for await (const chunk of spool.messageStream(envelope.id, envelope)) {
    parts.push(chunk as Buffer);
    length += (chunk as Buffer).length;
    if (!full) {
      const text = Buffer.concat(parts);
      const end = text.indexOf('\r\n\r\n');
      if (end >= 0) return text.subarray(0, end + 2);
      if (length > MAX_RETURNED_HEADERS) return text.subarray(0, MAX_RETURNED_HEADERS);
    }
  }
  return Buffer.concat(parts);
}

async function enqueue(deps: BounceDeps, to: string, report: Buffer, body: SpoolEnvelope['transaction']['body']): Promise<string> {
  const id = deps.nextId();
  const writer = deps.spool.begin(id);
  writer.write(report);
  const envelope = await deps.spool.commit(writer, {
    id,
    receivedAt: deps.clock.now().toISOString(),
    listener: 'bounce',
    clientIp: '127.0.0.1',
    helo: deps.hostname,
    protocol: 'local',
    method: 'DATA',
    chunks: 0,
    size: report.length,
    transaction: { from: '', body, smtputf8: false, rcpts: [{ address: to, local: deps.localDomains.includes(domainOf(to)) }] },
  });
  deps.queued(id, envelope);
  return id;
}
