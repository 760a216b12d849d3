/**
 * One delivery attempt for one queue entry: the shell around the queue's decisions. Local recipients
 * go to Maildir, remote ones are grouped by domain and handed to the outbound side through the
 * delivery port; the local copies and the domains run concurrently (a bounded number of domains at
 * once). Each recipient's result is folded through fate() (fate.ts) into a new state; nothing given
 * is changed. Returns the new state and what the sender must be told (DSN notices); the caller makes
 * the notices durable before it records the state, so a crash repeats a notice rather than losing it.
 */
import { Readable } from 'node:stream';
import type { EntryState, RecipientState } from './entry-state.js';
import type { Spool, SpoolEnvelope } from './spool.js';
import { deliverToMaildir } from './maildir.js';
import { deliveryName } from './maildir-once.js';
import { fate, type AttemptResult, type DsnNotice, type RetryPolicy } from './fate.js';
import { howDelivered, type DeliverRemote, type DomainDelivery, type OutboundMessage } from './delivery-port.js';
import { domainOf } from '../protocol/command.js';
import type { Recipient } from '../protocol/envelope.js';
import { HopCounter } from '../protocol/hop-count.js';
import type { TrackingEvent } from '../log/tracking.js';
import { bugReason, type BugReporter } from '../log/bug.js';
import type { Clock } from '../time/clock.js';

export type { DsnNotice, RetryPolicy } from './fate.js';

export interface AttemptDeps {
  readonly spool: Spool;
  readonly mailRoot: string;
  readonly hostname: string;
  /** Time (the runner's wake-ups run on it too): real, or a test's virtual clock. */
  readonly clock: Clock;
  readonly track: (event: TrackingEvent) => void;
  readonly retry: RetryPolicy;
  /** Absent: remote recipients wait (nothing can deliver them yet). */
  readonly deliverRemote?: DeliverRemote;
  /** A message with more Received: fields is bounced, not sent again (it is looping); none: no check. */
  readonly maxHops?: number;
  /** Told of a throw from `deliverRemote` (Barge's own bug): its recipients are deferred. */
  readonly bug?: BugReporter;
}

export interface AttemptOutcome {
  readonly state: EntryState;
  /** False when nothing was tried (nothing due, or only remote recipients and no way to send them yet). */
  readonly changed: boolean;
  readonly notices: DsnNotice[];
}

/** Domains of one entry delivered at once; each domain's sessions are limited again by the client's pool. */
const DOMAINS_AT_ONCE = 8;

type Results = ReadonlyArray<readonly [address: string, result: AttemptResult]>;

/**
 * `fresh`: the entry's first attempt, in the process that received it; no earlier attempt can have left
 * a Maildir copy to find (a crash would have made it an entry recovered at start instead).
 */
export async function attempt(
  id: string,
  envelope: SpoolEnvelope,
  state: EntryState,
  deps: AttemptDeps,
  fresh = false,
): Promise<AttemptOutcome> {
  const now = deps.clock.now();
  const due = state.rcpts.filter(
    (r) => r.status === 'pending' && (r.nextAttempt === undefined || Date.parse(r.nextAttempt) <= now.getTime()),
  );
  if (due.length === 0) return { state, changed: false, notices: [] };
  const recipientOf = recipientsOf(envelope);
  const locals = due.filter((r) => r.local);
  const remote = deps.deliverRemote === undefined ? [] : due.filter((r) => !r.local);

  // A small message is read once, for the hop count and every local copy (no stream per reader).
  const bytes = await deps.spool.messageBytes(id, envelope);
  const content = (): Readable | readonly Buffer[] => (bytes === undefined ? deps.spool.messageStream(id, envelope) : [bytes]);
  const hops = deps.maxHops === undefined ? 0 : await countHops(content());
  let results: Results;
  if (deps.maxHops !== undefined && hops > deps.maxHops) {
    // RFC 5321 6.3: a message that has passed through too many relays is in a loop. Mail put straight
    // into the spool (`barge send --data-dir`) or queued under a higher limit meets this check here.
    const detail = `too many hops: ${hops} Received: fields (at most ${deps.maxHops}); not sent again (mail loop?)`;
    results = due.map((r) => [r.address, { kind: 'failed', status: '5.4.6', detail }] as const);
  } else {
    const domains = new Map<string, RecipientState[]>();
    for (const r of remote) domains.set(domainOf(r.address), [...(domains.get(domainOf(r.address)) ?? []), r]);
    const jobs = [
      () => deliverLocal(id, envelope, locals, content, deps, fresh),
      ...[...domains].map(
        ([domain, rcpts]) =>
          () =>
            deliverDomain(id, envelope, domain, rcpts, deps, recipientOf),
      ),
    ];
    results = (await inTurn(jobs, DOMAINS_AT_ONCE)).flat();
  }
  if (results.length === 0) return { state, changed: false, notices: [] };
  return fold(id, envelope, state, results, deps, now, recipientOf);
}

/** The new state: each tried recipient's fate applied, the rest as they were. */
function fold(
  id: string,
  envelope: SpoolEnvelope,
  state: EntryState,
  results: Results,
  deps: AttemptDeps,
  now: Date,
  recipientOf: RecipientOf,
): AttemptOutcome {
  const byAddress = new Map(results);
  const notices: DsnNotice[] = [];
  const rcpts = state.rcpts.map((r) => {
    const result = byAddress.get(r.address);
    if (result === undefined) return r;
    const f = fate(r, result, { id, receivedAt: envelope.receivedAt, recipient: recipientOf(r) }, deps.retry, now);
    deps.track(f.event);
    if (f.notice !== undefined) notices.push(f.notice);
    return f.next;
  });
  return { state: { ...state, rcpts }, changed: true, notices };
}

/** The envelope's recipient (NOTIFY, ORCPT) of each state, by address: looked up once per entry. */
type RecipientOf = (r: RecipientState) => Recipient;

function recipientsOf(envelope: SpoolEnvelope): RecipientOf {
  const byAddress = new Map(envelope.transaction.rcpts.map((x) => [x.address, x]));
  return (r) => byAddress.get(r.address) ?? { address: r.address, local: r.local };
}

async function deliverLocal(
  id: string,
  envelope: SpoolEnvelope,
  rcpts: readonly RecipientState[],
  content: () => Readable | readonly Buffer[],
  deps: AttemptDeps,
  fresh: boolean,
): Promise<Results> {
  // Local copies are written concurrently (libuv's pool does the file work).
  return Promise.all(
    rcpts.map(async (r): Promise<readonly [string, AttemptResult]> => {
      try {
        const folder = envelope.junk === true ? '.Junk' : undefined;
        const stable = { name: deliveryName(id, r.address, deps.hostname), mayExist: !fresh };
        const path = await deliverToMaildir(
          deps.mailRoot,
          r.address,
          envelope.transaction.from,
          content(),
          deps.hostname,
          deps.clock,
          folder,
          stable,
        );
        const detail = `maildir ${path}`;
        return [
          r.address,
          {
            kind: 'delivered',
            detail,
            tracked: { via: 'maildir', detail: path },
            notice: { action: 'delivered', status: '2.0.0', detail: 'delivered to mailbox' },
          },
        ];
      } catch (e) {
        return [
          r.address,
          { kind: 'deferred', status: '4.2.0', reason: `local delivery failed: ${e instanceof Error ? e.message : String(e)}` },
        ];
      }
    }),
  );
}

async function deliverDomain(
  id: string,
  envelope: SpoolEnvelope,
  domain: string,
  rcpts: readonly RecipientState[],
  deps: AttemptDeps,
  recipientOf: RecipientOf,
): Promise<Results> {
  const tx = envelope.transaction;
  const message: OutboundMessage = {
    from: tx.from,
    rcpts: rcpts.map(recipientOf),
    body: tx.body,
    smtputf8: tx.smtputf8,
    size: envelope.messageLength,
    ...(tx.ret === undefined ? {} : { ret: tx.ret }),
    ...(tx.envid === undefined ? {} : { envid: tx.envid }),
    ...(tx.requireTls === true ? { requireTls: true } : {}),
    open: () => deps.spool.messageStream(id, envelope),
  };
  if (deps.deliverRemote === undefined) return [];
  const result = await deliverRemoteSafely(deps.deliverRemote, domain, message, rcpts, (e) =>
    deps.bug?.(e, { where: 'outbound', id, destination: domain }),
  );
  if (result.tlsPolicy !== undefined) {
    const failure = result.hop === undefined ? result.outcomes[0]?.detail : undefined;
    deps.track({
      event: 'tls-policy',
      id,
      domain,
      policy: result.tlsPolicy,
      result: failure === undefined ? 'success' : 'failure',
      ...(failure === undefined ? {} : { detail: failure }),
    });
  }
  const remoteMta = result.hop === undefined ? {} : { remoteMta: `dns; ${result.hop.name}` };
  const how = howDelivered(result);
  return rcpts.map((r): readonly [string, AttemptResult] => {
    const o = result.outcomes.find((x) => x.address === r.address);
    if (o === undefined)
      return [r.address, { kind: 'deferred', status: '4.3.0', reason: 'the delivery gave no outcome for this recipient' }];
    if (o.kind === 'permanent') return [r.address, { kind: 'failed', status: o.status, detail: o.detail, ...remoteMta }];
    if (o.kind !== 'delivered') return [r.address, { kind: 'deferred', status: o.status, reason: o.detail }];
    const detail = `${result.hop?.name ?? domain}${how}: ${o.detail}`;
    const tracked = {
      via: 'smtp' as const,
      detail,
      ...(result.method === undefined ? {} : { method: result.method, chunks: result.chunks ?? 0 }),
      ...(result.fallback === undefined ? {} : { fallback: result.fallback }),
      ...(result.tlsPolicy === undefined ? {} : { tlsPolicy: result.tlsPolicy }),
    };
    return [
      r.address,
      { kind: 'delivered', detail, tracked, notice: { action: 'relayed', status: o.status, detail: o.detail, ...remoteMta } },
    ];
  });
}

/** Runs the jobs with at most `limit` at once; results in the jobs' order. */
async function inTurn<T>(jobs: ReadonlyArray<() => Promise<T>>, limit: number): Promise<T[]> {
  const results = new Array<T>(jobs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < jobs.length; i = next++) {
      const job = jobs[i];
      if (job !== undefined) results[i] = await job();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  return results;
}

/**
 * The delivery to one domain. It never throws for a peer or the network (deliver.ts), so a throw is
 * Barge's own bug: reported, and each recipient is deferred to its next retry, never bounced for it.
 */
async function deliverRemoteSafely(
  deliver: DeliverRemote,
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
