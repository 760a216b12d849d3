/**
 * The queue runner: takes entries from the spool and gives each recipient a fate. Local recipients
 * are delivered to Maildir; a recipient that fails is retried on a later scan. Relayed recipients wait
 * for the outbound client. An entry is removed only when every recipient has a final fate, so a
 * crash at any point delivers again (at least once) rather than losing mail.
 *
 * Everything that reads and rewrites an entry's state (a delivery attempt, ETRN clearing retry
 * times) runs one at a time per entry, so no write is based on a stale read: an ETRN during a
 * delivery can never turn a delivered recipient back into a pending one and send it again.
 */
import type { SpoolEnvelope } from './spool.js';
import { attempt, type AttemptDeps, type DsnNotice } from './attempt.js';
import { domainOf } from '../protocol/command.js';
import type { EntryState } from './entry-state.js';

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
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: QueueRunnerOptions) {
    this.#o = options;
  }

  start(): void {
    void this.scan();
    this.#timer = setInterval(() => void this.scan(), this.#o.scanIntervalMs);
    this.#timer.unref();
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

  /** Processes every entry (ETRN and flush ignore retry times for matching recipients). */
  async scan(domain?: string): Promise<void> {
    for (const id of await this.#o.spool.list()) {
      if (domain !== undefined) await this.#exclusive(id, () => this.#clearRetryTimes(id, domain));
      this.wake(id);
    }
  }

  /** Resolves when nothing is being processed or waiting. */
  async idle(): Promise<void> {
    while (this.#active.size > 0 || this.#due.length > 0) await Promise.race(this.#active);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
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
        .catch((e: unknown) => this.#o.track({ event: 'deferred', id, rcpt: '*', reason: `queue entry unreadable: ${String(e)}` }))
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

  async #clearRetryTimes(id: string, domain: string): Promise<void> {
    const state = await this.#o.spool.readState<EntryState>(id);
    if (state === undefined) return;
    const node = domain.replace(/^[@#]/, '');
    let changed = false;
    for (const r of state.rcpts) {
      const d = domainOf(r.address);
      if (r.status === 'pending' && (d === node || (domain.startsWith('@') && d.endsWith(`.${node}`)))) {
        delete r.nextAttempt;
        changed = true;
      }
    }
    if (changed) await this.#o.spool.writeState(id, state);
  }

  async #process(id: string): Promise<void> {
    const { spool } = this.#o;
    let envelope: SpoolEnvelope;
    try {
      const known = this.#known.get(id);
      this.#known.delete(id);
      envelope = known ?? (await spool.readEnvelope(id));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // already finished
      throw e;
    }
    if (this.#o.prepare !== undefined) envelope = await this.#o.prepare(id, envelope);
    const state = (await spool.readState<EntryState>(id)) ?? initialState(envelope);
    if (state.held === true) return;
    const { changed, notices } = await attempt(id, envelope, state, this.#o);
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
