/**
 * One delivery attempt for one queue entry: local recipients go to Maildir, remote ones are grouped
 * by domain and handed to the outbound client. Each recipient that is due ends the attempt
 * delivered, bounced (5xx, or 4xx past the queue lifetime) or deferred to the next retry time.
 * Returns what the sender must be told (DSN notices); the caller makes the bounce durable before
 * it records the new state, so a crash repeats a notice rather than losing it.
 */
import { Readable } from 'node:stream';
import type { RecipientState, EntryState } from './entry-state.js';
import type { Spool, SpoolEnvelope } from './spool.js';
import { deliverToMaildir } from './maildir.js';
import { deliveryName } from './maildir-once.js';
import { domainOf } from '../protocol/command.js';
import type { Recipient } from '../protocol/envelope.js';
import type { TrackingEvent } from '../log/tracking.js';
import { bugReason, type BugReporter } from '../log/bug.js';
import { howDelivered, type DomainDelivery, type OutboundMessage } from '../client/delivery-result.js';
import { HopCounter } from '../protocol/hop-count.js';

export interface RetryPolicy {
  /** Delays before the 1st, 2nd, ... retry of a remote recipient; the last repeats. */
  readonly scheduleMs: readonly number[];
  readonly lifetimeMs: number;
  readonly delayWarningMs: number;
  /** Local (Maildir) failures are retried sooner: they are usually a full or busy disk. */
  readonly localRetryMs: number;
}

export interface AttemptDeps {
  readonly spool: Spool;
  readonly mailRoot: string;
  readonly hostname: string;
  readonly now: () => Date;
  readonly track: (event: TrackingEvent) => void;
  readonly retry: RetryPolicy;
  /** Absent: remote recipients wait (nothing can deliver them yet). */
  readonly deliverRemote?: (domain: string, message: OutboundMessage) => Promise<DomainDelivery>;
  /** A message with more Received: fields is bounced, not sent again (it is looping); none: no check. */
  readonly maxHops?: number;
  /** Told of a throw from `deliverRemote` (Barge's own bug): its recipients are deferred. */
  readonly bug?: BugReporter;
}

export interface DsnNotice {
  readonly recipient: Recipient;
  readonly action: 'failed' | 'delayed' | 'delivered' | 'relayed';
  readonly status: string;
  readonly detail: string;
  readonly remoteMta?: string;
  readonly willRetryUntil?: Date;
}

/**
 * `fresh`: the entry's first attempt, in the process that received it; no earlier attempt can have left
 * a Maildir copy to find (a crash would have made it an entry recovered at start instead).
 */
export async function attempt(id: string, envelope: SpoolEnvelope, state: EntryState, deps: AttemptDeps, fresh = false): Promise<{ changed: boolean; notices: DsnNotice[] }> {
  const now = deps.now();
  const notices: DsnNotice[] = [];
  const byAddress = new Map(envelope.transaction.rcpts.map((r) => [r.address, r]));
  const recipientOf = (r: RecipientState): Recipient => byAddress.get(r.address) ?? { address: r.address, local: r.local };
  const due = state.rcpts.filter((r) => r.status === 'pending' && (r.nextAttempt === undefined || Date.parse(r.nextAttempt) <= now.getTime()));
  if (due.length === 0) return { changed: false, notices };
  const expiresAt = Date.parse(envelope.receivedAt) + deps.retry.lifetimeMs;

  const bounce = (r: RecipientState, status: string, detail: string, remoteMta?: string): void => {
    r.status = 'bounced';
    r.lastResult = detail;
    delete r.nextAttempt;
    deps.track({ event: 'bounced', id, rcpt: r.address, reason: detail });
    notices.push({ recipient: recipientOf(r), action: 'failed', status, detail, ...(remoteMta === undefined ? {} : { remoteMta }) });
  };

  const defer = (r: RecipientState, status: string, reason: string, delayMs: number): void => {
    if (now.getTime() >= expiresAt) {
      r.status = 'bounced';
      r.lastResult = `gave up after ${r.attempts} attempts: ${reason}`;
      delete r.nextAttempt;
      deps.track({ event: 'bounced', id, rcpt: r.address, reason: r.lastResult });
      notices.push({ recipient: recipientOf(r), action: 'failed', status: status.startsWith('4.') ? '4.4.7' : status, detail: r.lastResult });
      return;
    }
    r.lastResult = reason;
    r.nextAttempt = new Date(Math.min(now.getTime() + delayMs, expiresAt)).toISOString();
    deps.track({ event: 'deferred', id, rcpt: r.address, reason, nextAttempt: r.nextAttempt });
    if (r.warned !== true && now.getTime() - Date.parse(envelope.receivedAt) >= deps.retry.delayWarningMs) {
      r.warned = true;
      notices.push({ recipient: recipientOf(r), action: 'delayed', status, detail: reason, willRetryUntil: new Date(expiresAt) });
    }
  };

  // A small message is read once, for the hop count and every local copy (no stream per reader).
  const bytes = await deps.spool.messageBytes(id, envelope);
  const content = (): Readable | readonly Buffer[] => (bytes === undefined ? deps.spool.messageStream(id, envelope) : [bytes]);
  const hops = deps.maxHops === undefined ? 0 : await countHops(content());
  if (deps.maxHops !== undefined && hops > deps.maxHops) {
    // RFC 5321 6.3: a message that has passed through too many relays is in a loop. Mail put straight
    // into the spool (`barge send --data-dir`) or queued under a higher limit meets this check here.
    const detail = `too many hops: ${hops} Received: fields (at most ${deps.maxHops}); not sent again (mail loop?)`;
    for (const r of due) {
      r.attempts++;
      bounce(r, '5.4.6', detail);
    }
    return { changed: true, notices };
  }

  // Local copies are written concurrently (libuv's pool, sized in bin/barge.js, does the file work).
  await Promise.all(due.filter((x) => x.local).map(async (r) => {
    r.attempts++;
    try {
      const folder = envelope.junk === true ? '.Junk' : undefined;
      const stable = { name: deliveryName(id, r.address, deps.hostname), mayExist: !fresh };
      const path = await deliverToMaildir(deps.mailRoot, r.address, envelope.transaction.from, content(), deps.hostname, deps.now, folder, stable);
      r.status = 'delivered';
      r.lastResult = `maildir ${path}`;
      delete r.nextAttempt;
      deps.track({ event: 'delivered', id, rcpt: r.address, via: 'maildir', detail: path });
      if (recipientOf(r).notify?.includes('SUCCESS') === true) notices.push({ recipient: recipientOf(r), action: 'delivered', status: '2.0.0', detail: 'delivered to mailbox' });
    } catch (e) {
      defer(r, '4.2.0', `local delivery failed: ${e instanceof Error ? e.message : String(e)}`, deps.retry.localRetryMs);
    }
  }));

  const remote = due.filter((x) => !x.local);
  const { deliverRemote } = deps;
  if (deliverRemote !== undefined) {
    const domains = new Map<string, RecipientState[]>();
    for (const r of remote) domains.set(domainOf(r.address), [...(domains.get(domainOf(r.address)) ?? []), r]);
    for (const [domain, states] of domains) {
      const tx = envelope.transaction;
      const message: OutboundMessage = {
        from: tx.from, rcpts: states.map(recipientOf), body: tx.body, smtputf8: tx.smtputf8, size: envelope.messageLength,
        ...(tx.ret === undefined ? {} : { ret: tx.ret }), ...(tx.envid === undefined ? {} : { envid: tx.envid }),
        ...(tx.requireTls === true ? { requireTls: true } : {}),
        open: () => deps.spool.messageStream(id, envelope),
      };
      const result = await deliverRemoteSafely(deliverRemote, domain, message, states, (e) => deps.bug?.(e, { where: 'outbound', id, destination: domain }));
      if (result.tlsPolicy !== undefined) {
        const failure = result.hop === undefined ? result.outcomes[0]?.detail : undefined;
        deps.track({ event: 'tls-policy', id, domain, policy: result.tlsPolicy, result: failure === undefined ? 'success' : 'failure', ...(failure === undefined ? {} : { detail: failure }) });
      }
      const remoteMta = result.hop === undefined ? undefined : `dns; ${result.hop.name}`;
      for (const r of states) {
        r.attempts++;
        const o = result.outcomes.find((x) => x.address === r.address);
        if (o === undefined) continue;
        const how = howDelivered(result);
        if (o.kind === 'delivered') {
          r.status = 'delivered';
          r.lastResult = `${result.hop?.name ?? domain}${how}: ${o.detail}`;
          delete r.nextAttempt;
          deps.track({
            event: 'delivered', id, rcpt: r.address, via: 'smtp', detail: r.lastResult,
            ...(result.method === undefined ? {} : { method: result.method, chunks: result.chunks ?? 0 }),
            ...(result.fallback === undefined ? {} : { fallback: result.fallback }),
            ...(result.tlsPolicy === undefined ? {} : { tlsPolicy: result.tlsPolicy }),
          });
          if (recipientOf(r).notify?.includes('SUCCESS') === true) notices.push({
            recipient: recipientOf(r), action: 'relayed', status: o.status, detail: o.detail, ...(remoteMta === undefined ? {} : { remoteMta }) });
        } else if (o.kind === 'permanent') {
          bounce(r, o.status, o.detail, remoteMta);
        } else {
          const schedule = deps.retry.scheduleMs;
          defer(r, o.status, o.detail, schedule[Math.min(r.attempts - 1, schedule.length - 1)] ?? 3_600_000);
        }
      }
    }
  }
  const changed = due.some((r) => r.local) || (deliverRemote !== undefined && remote.length > 0);
  return { changed, notices };
}

/**
 * The delivery to one domain. It never throws for a peer or the network (deliver.ts), so a throw is
 * Barge's own bug: reported, and each recipient is deferred to its next retry, never bounced for it.
 */
async function deliverRemoteSafely(
  deliver: NonNullable<AttemptDeps['deliverRemote']>,
  domain: string,
  message: OutboundMessage,
  states: readonly RecipientState[],
  bug: (error: unknown) => void,
): Promise<DomainDelivery> {
  try {
    return await deliver(domain, message);
  } catch (e) {
    bug(e);
    const detail = bugReason(e);
    return { outcomes: states.map((r) => ({ address: r.address, kind: 'temporary', status: '4.3.0', detail })) };
  }
}

/** Received: fields in a spooled message's header section; the body is not read. */
async function countHops(stream: Readable | readonly Buffer[]): Promise<number> {
  const counter = new HopCounter();
  if (!(stream instanceof Readable)) {
    for (const chunk of stream) counter.feed(chunk);
    return counter.count;
  }
  for await (const chunk of stream) {
    counter.feed(chunk as Buffer);
    if (counter.done) break;
  }
  stream.destroy();
  return counter.count;
}
