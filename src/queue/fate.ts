/**
 * The queue's decisions as data: what one delivery attempt's result means for one recipient. A pure
 * function of the recipient's state, the result, the retry policy and the time; it returns the next
 * state (a new object), the tracking event to record and the notice (DSN) the sender is owed, if
 * any. attempt.ts runs deliveries and folds these fates; nothing here does I/O.
 *
 * RFC 5321 4.5.4.1: a transient failure is retried on a schedule and given up after the queue
 * lifetime (then the DSN status is 4.4.7, RFC 3463); RFC 3461 4.1: success notices only on request.
 */
import type { Recipient } from '../protocol/envelope.js';
import type { TrackingEvent } from '../log/tracking.js';
import type { RecipientState } from './entry-state.js';

export interface RetryPolicy {
  /** Delays before the 1st, 2nd, ... retry of a remote recipient; the last repeats. */
  readonly scheduleMs: readonly number[];
  readonly lifetimeMs: number;
  readonly delayWarningMs: number;
  /** Local (Maildir) failures are retried sooner: they are usually a full or busy disk. */
  readonly localRetryMs: number;
}

export interface DsnNotice {
  readonly recipient: Recipient;
  readonly action: 'failed' | 'delayed' | 'delivered' | 'relayed';
  readonly status: string;
  readonly detail: string;
  readonly remoteMta?: string;
  readonly willRetryUntil?: Date;
}

type Delivered = Extract<TrackingEvent, { event: 'delivered' }>;

/** One recipient's result of one attempt. */
export type AttemptResult =
  | {
      readonly kind: 'delivered';
      /** The state's record of the delivery ("mx.example BDAT/2: 250 2.0.0 ok", "maildir PATH"). */
      readonly detail: string;
      /** The tracking event's particulars. */
      readonly tracked: Omit<Delivered, 'event' | 'id' | 'rcpt'>;
      /** The success notice's action, status and text, sent only when the recipient asked (NOTIFY=SUCCESS). */
      readonly notice: {
        readonly action: 'delivered' | 'relayed';
        readonly status: string;
        readonly detail: string;
        readonly remoteMta?: string;
      };
    }
  | { readonly kind: 'failed'; readonly status: string; readonly detail: string; readonly remoteMta?: string }
  | { readonly kind: 'deferred'; readonly status: string; readonly reason: string };

export interface EntryFacts {
  readonly id: string;
  /** When the message was received (ISO time): the lifetime and the delay warning count from it. */
  readonly receivedAt: string;
  /** The envelope's recipient (NOTIFY, ORCPT) for the notice. */
  readonly recipient: Recipient;
}

export interface Fate {
  readonly next: RecipientState;
  readonly event: TrackingEvent;
  readonly notice?: DsnNotice;
}

/** The wait before the next try after `attempts` tries: the schedule's step for remote recipients, the local delay for Maildir. */
export function retryDelay(state: RecipientState, attempts: number, policy: RetryPolicy): number {
  if (state.local) return policy.localRetryMs;
  const schedule = policy.scheduleMs;
  return schedule[Math.min(attempts - 1, schedule.length - 1)] ?? 3_600_000;
}

export function fate(state: RecipientState, result: AttemptResult, entry: EntryFacts, policy: RetryPolicy, now: Date): Fate {
  const attempts = state.attempts + 1;
  const { id, recipient } = entry;
  const rcpt = state.address;
  const { nextAttempt: _, ...settled } = state;
  switch (result.kind) {
    case 'delivered': {
      const next: RecipientState = { ...settled, attempts, status: 'delivered', lastResult: result.detail };
      const event: TrackingEvent = { event: 'delivered', id, rcpt, ...result.tracked };
      if (recipient.notify?.includes('SUCCESS') !== true) return { next, event };
      return { next, event, notice: { recipient, ...result.notice } };
    }
    case 'failed': {
      const next: RecipientState = { ...settled, attempts, status: 'bounced', lastResult: result.detail };
      const remote = result.remoteMta === undefined ? {} : { remoteMta: result.remoteMta };
      return {
        next,
        event: { event: 'bounced', id, rcpt, reason: result.detail },
        notice: { recipient, action: 'failed', status: result.status, detail: result.detail, ...remote },
      };
    }
    case 'deferred':
      return deferred(state, attempts, result, entry, policy, now);
  }
}

function deferred(
  state: RecipientState,
  attempts: number,
  result: Extract<AttemptResult, { kind: 'deferred' }>,
  entry: EntryFacts,
  policy: RetryPolicy,
  now: Date,
): Fate {
  const { id, recipient } = entry;
  const rcpt = state.address;
  const received = Date.parse(entry.receivedAt);
  const expiresAt = received + policy.lifetimeMs;
  if (now.getTime() >= expiresAt) {
    const detail = `gave up after ${attempts} attempts: ${result.reason}`;
    const { nextAttempt: _, ...settled } = state;
    const status = result.status.startsWith('4.') ? '4.4.7' : result.status;
    return {
      next: { ...settled, attempts, status: 'bounced', lastResult: detail },
      event: { event: 'bounced', id, rcpt, reason: detail },
      notice: { recipient, action: 'failed', status, detail },
    };
  }
  const nextAttempt = new Date(Math.min(now.getTime() + retryDelay(state, attempts, policy), expiresAt)).toISOString();
  const warn = state.warned !== true && now.getTime() - received >= policy.delayWarningMs;
  const next: RecipientState = { ...state, attempts, lastResult: result.reason, nextAttempt, ...(warn ? { warned: true } : {}) };
  const event: TrackingEvent = { event: 'deferred', id, rcpt, reason: result.reason, nextAttempt };
  if (!warn) return { next, event };
  return {
    next,
    event,
    notice: { recipient, action: 'delayed', status: result.status, detail: result.reason, willRetryUntil: new Date(expiresAt) },
  };
}
