/**
 * The queue runner: takes entries from the spool and gives each recipient a fate. Local recipients
 * are delivered to Maildir; a recipient that fails is retried when it is due again. Relayed recipients
 * wait for the outbound client. An entry is removed only when every recipient has a final fate, so a
 * crash at any point delivers again (at least once) rather than losing mail.
 *
 * Nothing rescans the queue: a due-time index (built at start from the spool, kept current by every
 * state change) and one timer at the next due time, capped at the scan interval, say what to take.
 *
 * Everything that reads and rewrites an entry's state (a delivery attempt, ETRN clearing retry
 * times) runs one at a time per entry, so no write is based on a stale read: an ETRN during a
 * delivery can never turn a delivered recipient back into a pending one and send it again.
 */
import type { SpoolEnvelope } from './spool.js';
import { attempt, type AttemptDeps, type DsnNotice } from './attempt.js';
import { domainOf } from '../protocol/command.js';
import type { EntryState } from './entry-state.js';
import { DueIndex, dueTime } from './due-index.js';
import type { TimerHandle } from '../time/clock.js';

export type { EntryState, RecipientState, RecipientStatus } from './entry-state.js';

export interface QueueRunnerOptions extends AttemptDeps {
  readonly scanIntervalMs: number;
  readonly concurrency?: number;
  /** Tells senders about failures, delays and (when asked) successes: enqueues DSNs. */
  readonly notify?: (envelope: SpoolEnvelope, notices: readonly DsnNotice[]) => Promise<void>;
  /** Runs before an entry's attempts (DKIM signing); returns the entry's envelope, rewritten or not. */
  readonly prepare?: (id: string, envelope: SpoolEnvelope) => Promise<SpoolEnvelope>;
}

export function initialState(envelope: SpoolEnvelope): EntryState {
  return { rcpts: envelope.transaction.rcpts.map((r) => ({ address: r.address, local: r.local, status: 'pending', attempts: 0 })) };
}

export class QueueRunner {
  readonly #o: QueueRunnerOptions;
  readonly #due: string[] = [];
  readonly #queued = new Set<string>();
  /** Envelopes handed over at commit, so a new entry is not read back from disk. */
  readonly #known = new Map<string, SpoolEnvelope>();
  readonly #active = new Set<Promise<void>>();
  /** Entries being processed now, and those woken meanwhile (processed again right after). */
  readonly #running = new Set<string>();
  readonly #again = new Set<string>();
  /** The tail of each entry's chain of state work (see #exclusive). */
  readonly #locks = new Map<string, Promise<void>>();
  readonly #index = new DueIndex();
  #timer: TimerHandle | undefined;
  #started = false;
  #stopped = false;

  constructor(options: QueueRunnerOptions) {
    this.#o = options;
  }

  /** Indexes every entry by due time (the spool keeps states in memory), then runs what is due. */
  start(): void {
    this.#started = true;
    void this.#build();
  }

  async #build(): Promise<void> {
    for (const id of await this.#o.spool.list()) await this.reschedule(id);
    this.#arm();
  }

  /** Re-reads an entry's state into the index (after any change to it, by anyone). */
  async reschedule(id: string, failed = false): Promise<void> {
    const { spool } = this.#o;
    const state = await spool.readState<EntryState>(id);
    // An entry never tried has no state and is due now.
    const at = !spool.has(id) || state?.held === true ? undefined : state === undefined ? 0 : dueTime(state);
    if (at === undefined) this.#index.delete(id);
    // An entry that could not be processed waits a scan interval rather than spinning.
    else this.#index.set(id, failed ? this.#o.clock.now().getTime() + this.#o.scanIntervalMs : at);
    if (this.#started) this.#arm();
  }

  /** One timer, at the next due time or the scan interval, whichever is sooner. */
  #arm(): void {
    if (this.#stopped) return;
    this.#timer?.cancel();
    const next = this.#index.next();
    const wait =
      next === undefined ? this.#o.scanIntervalMs : Math.max(0, Math.min(next - this.#o.clock.now().getTime(), this.#o.scanIntervalMs));
    this.#timer = this.#o.clock.after(wait, () => {
      this.#timer = undefined;
      for (const id of this.#index.takeDue(this.#o.clock.now().getTime())) this.wake(id);
      this.#arm();
    });
  }

  /** Queues one entry for processing now; a caller that has just committed it passes its envelope. */
  wake(id: string, envelope?: SpoolEnvelope): void {
    if (envelope !== undefined) this.#known.set(id, envelope);
    if (this.#stopped) return;
    if (this.#running.has(id)) this.#again.add(id);
    if (this.#queued.has(id)) return;
    this.#queued.add(id);
    this.#due.push(id);
    this.#pump();
  }

  /** Processes every entry; with a domain (ETRN) only those with a pending recipient there, retry times ignored. */
  async scan(domain?: string): Promise<void> {
    for (const id of await this.#o.spool.list()) {
      if (domain === undefined || (await this.#exclusive(id, () => this.#clearRetryTimes(id, domain)))) this.wake(id);
    }
  }

  /** Resolves when nothing is being processed or waiting. */
  async idle(): Promise<void> {
    while (this.#active.size > 0 || this.#due.length > 0) await Promise.race(this.#active);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#due.length = 0;
    this.#known.clear();
    await Promise.allSettled(this.#active);
  }

  #pump(): void {
    // Entries in flight at once; sessions to one destination are limited (and reused) by the client.
    const limit = this.#o.concurrency ?? 16;
    while (this.#active.size < limit && this.#due.length > 0) {
      const id = this.#due.shift();
      if (id === undefined) break;
      this.#running.add(id);
      const job = this.#exclusive(id, () => this.#process(id))
        .then(
          () => this.reschedule(id),
          (e: unknown) => {
            this.#o.track({ event: 'deferred', id, rcpt: '*', reason: `queue entry unreadable: ${String(e)}` });
            return this.reschedule(id, true);
          },
        )
        .finally(() => {
          this.#active.delete(job);
          this.#queued.delete(id);
          this.#running.delete(id);
          if (this.#again.delete(id)) this.wake(id);
          this.#pump();
        });
      this.#active.add(job);
    }
  }

  /** Runs `work` after every earlier piece of state work on entry `id` has finished. */
  #exclusive<T>(id: string, work: () => Promise<T>): Promise<T> {
    const result = (this.#locks.get(id) ?? Promise.resolve()).then(work);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.#locks.set(id, tail);
    void tail.then(() => {
      if (this.#locks.get(id) === tail) this.#locks.delete(id);
    });
    return result;
  }

  /** True when the entry has a pending recipient in the domain (now due). */
  async #clearRetryTimes(id: string, domain: string): Promise<boolean> {
    const { spool } = this.#o;
    const state = (await spool.readState<EntryState>(id)) ?? (await spool.readEnvelope(id).then(initialState, () => undefined));
    if (state === undefined) return false;
    const node = domain.replace(/^[@#]/, '');
    let matched = false;
    let changed = false;
    for (const r of state.rcpts) {
      const d = domainOf(r.address);
      if (r.status === 'pending' && (d === node || (domain.startsWith('@') && d.endsWith(`.${node}`)))) {
        matched = true;
        if (r.nextAttempt !== undefined) changed = true;
        delete r.nextAttempt;
      }
    }
    if (changed) await spool.writeState(id, state);
    return matched;
  }

  async #process(id: string): Promise<void> {
    const { spool } = this.#o;
    let envelope: SpoolEnvelope;
    const known = this.#known.get(id);
    this.#known.delete(id);
    try {
      envelope = known ?? (await spool.readEnvelope(id));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // already finished
      throw e;
    }
    if (this.#o.prepare !== undefined) envelope = await this.#o.prepare(id, envelope);
    const stored = await spool.readState<EntryState>(id);
    const before = stored ?? initialState(envelope);
    if (before.held === true) return;
    // Handed over at commit and never tried: its first attempt (see attempt()'s `fresh`).
    const { state, changed, notices } = await attempt(id, envelope, before, this.#o, known !== undefined && stored === undefined);
    // The sender's notice is made durable before the state that caused it (at least once, never lost).
    if (notices.length > 0) await this.#o.notify?.(envelope, notices);
    if (state.rcpts.every((r) => r.status !== 'pending')) {
      await spool.remove(id);
      this.#o.track({ event: 'completed', id });
    } else if (changed) {
      // An entry nobody has tried yet needs no state file: its initial state follows from the envelope.
      await spool.writeState(id, state);
    }
  }
}
