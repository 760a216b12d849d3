/**
 * Runs the inbound checks off the event loop, within a time budget. One worker thread (check-worker.ts),
 * started on the first check and kept, runs up to `maxParallel()` checks at once; more wait their turn,
 * their budget running. A budget starts when the check is asked for, or, while the worker is still
 * loading the library, once it is ready: loading is local work done once (about 0.3 s on an idle
 * machine, seconds on a busy one), the budget is for the checks and their DNS answers, as it was
 * when the library loaded on the main thread. A worker not ready within STARTUP_LIMIT_MS is ended.
 *
 * When a check's budget is spent its outcome is `late` at once; the worker is told to drop it and
 * answers straight away unless synchronous work on some message holds its event loop, in which case
 * it is terminated after CANCEL_GRACE_MS. A worker that ends (terminated, out of memory, crashed) is
 * replaced on the next check, and the checks it was running start again there (their DNS answers are
 * cached on this side), once: a check lost twice fails. A worker that never gets ready fails its checks.
 *
 * DNS goes through the main thread's resolver (`MailAuthResolver`): the worker asks over its port,
 * so the checks share one cache (with MTA-STS) and the configured servers, and a lookup for a check
 * that is over is answered with an error at once instead of asked.
 */
import { Worker } from 'node:worker_threads';
import { realClock, type Clock, type TimerHandle } from '../time/clock.js';
import type { CheckRequest, CheckResults, FromWorker, ToWorker } from './check-types.js';
import type { MailAuthResolver } from './dns-cache.js';

export type CheckOutcome =
  | { readonly kind: 'done'; readonly results: CheckResults }
  | { readonly kind: 'failed'; readonly reason: string }
  | { readonly kind: 'late' };

export interface CheckPoolOptions {
  readonly resolver: MailAuthResolver;
  /** Checks running at once (read at each dispatch, so a reload applies). */
  readonly maxParallel: () => number;
  /** The worker's module; tests give a stand-in. */
  readonly workerUrl?: URL;
  /** What the checks' budgets run on (the server's clock); the worker's own start and stop limits guard a thread and run on real time. */
  readonly clock?: Clock;
}

/** How long a ready worker has to confirm a cancellation before it is taken to be stuck. */
const CANCEL_GRACE_MS = 1000;
/** A worker not ready this long after it started is ended (and the checks waiting for it fail). */
const STARTUP_LIMIT_MS = 30_000;
/**
 * The worker's heaps: a check holds at most a header section (1 MiB by default) and the library's
 * parse of it; a message that would need more ends the worker (its checks are then temperror). A
 * small young generation keeps the thread's resident size down (measured: 2 MB against the default).
 */
const RESOURCE_LIMITS = { maxOldGenerationSizeMb: 192, maxYoungGenerationSizeMb: 2 };

interface Slot {
  readonly worker: Worker;
  readonly jobs: Map<number, Job>;
  /** Cancelled checks not yet confirmed, with the timer that ends the worker (armed once it is ready). */
  readonly cancelling: Map<number, NodeJS.Timeout | undefined>;
  readonly startup: NodeJS.Timeout;
  ready: boolean;
  state: 'running' | 'stopping' | 'gone';
}

interface Job {
  readonly id: number;
  readonly request: CheckRequest;
  readonly budgetMs: number;
  readonly finish: (outcome: CheckOutcome) => void;
  /** Asked for while no worker was ready: its budget starts when one is. */
  waitsForStartup: boolean;
  timer: TimerHandle | undefined;
  settled: boolean;
  attempts: number;
  slot: Slot | undefined;
}

export class CheckPool {
  readonly #o: CheckPoolOptions;
  #slot: Slot | undefined;
  #waiting: Job[] = [];
  #nextId = 1;
  #started = 0;
  #terminated = 0;
  #closed = false;

  constructor(options: CheckPoolOptions) {
    this.#o = options;
  }

  /** Workers started so far (0 until the first check). */
  get workersStarted(): number {
    return this.#started;
  }

  /** Workers terminated because a cancelled check did not stop. */
  get workersTerminated(): number {
    return this.#terminated;
  }

  /** Runs one message's checks; resolves within `budgetMs` of the worker being ready. */
  run(request: CheckRequest, budgetMs: number): Promise<CheckOutcome> {
    if (this.#closed) return Promise.resolve({ kind: 'failed', reason: 'server stopping' });
    return new Promise((finish) => {
      const waitsForStartup = this.#slot?.ready !== true;
      const job: Job = {
        id: this.#nextId++,
        request,
        budgetMs,
        finish,
        waitsForStartup,
        timer: undefined,
        settled: false,
        attempts: 0,
        slot: undefined,
      };
      if (!waitsForStartup) this.#arm(job);
      this.#waiting.push(job);
      this.#dispatch();
    });
  }

  /** Ends the worker; checks still waiting or running are answered `failed`. */
  async close(): Promise<void> {
    this.#closed = true;
    const slot = this.#slot;
    this.#slot = undefined;
    for (const job of [...this.#waiting, ...(slot?.jobs.values() ?? [])]) this.#settle(job, { kind: 'failed', reason: 'server stopping' });
    this.#waiting = [];
    if (slot === undefined) return;
    slot.state = 'stopping';
    await slot.worker.terminate();
  }

  #arm(job: Job): void {
    job.waitsForStartup = false;
    job.timer ??= (this.#o.clock ?? realClock).after(job.budgetMs, () => this.#expire(job));
  }

  #dispatch(): void {
    if (this.#closed) return;
    while (this.#waiting.length > 0 && (this.#slot?.jobs.size ?? 0) < Math.max(1, this.#o.maxParallel())) {
      const job = this.#waiting.shift();
      if (job === undefined || job.settled) continue;
      this.#slot ??= this.#spawn();
      const slot = this.#slot;
      job.attempts++;
      job.slot = slot;
      slot.jobs.set(job.id, job);
      this.#post(slot, { kind: 'check', job: job.id, request: job.request });
    }
  }

  #settle(job: Job, outcome: CheckOutcome): void {
    if (job.settled) return;
    job.settled = true;
    job.timer?.cancel();
    job.finish(outcome);
  }

  #expire(job: Job): void {
    this.#settle(job, { kind: 'late' });
    const slot = job.slot;
    if (slot === undefined) return;
    job.slot = undefined;
    slot.jobs.delete(job.id);
    this.#post(slot, { kind: 'cancel', job: job.id });
    slot.cancelling.set(job.id, slot.ready ? this.#grace(slot) : undefined);
    this.#dispatch();
  }

  #grace(slot: Slot): NodeJS.Timeout {
    const stuck = setTimeout(() => this.#terminate(slot), CANCEL_GRACE_MS);
    stuck.unref();
    return stuck;
  }

  #spawn(): Slot {
    const worker = new Worker(this.#o.workerUrl ?? new URL('./check-worker.js', import.meta.url), {
      stdout: true,
      stderr: true,
      resourceLimits: RESOURCE_LIMITS,
    });
    // Whatever the library writes is read and dropped: Barge's own output stays its own.
    worker.stdout.resume();
    worker.stderr.resume();
    // The worker never keeps the process alive; the connections waiting on checks do.
    worker.unref();
    const startup = setTimeout(() => this.#terminate(slot), STARTUP_LIMIT_MS);
    startup.unref();
    const slot: Slot = { worker, jobs: new Map(), cancelling: new Map(), startup, ready: false, state: 'running' };
    worker.on('message', (message: FromWorker) => this.#received(slot, message));
    worker.on('error', () => undefined);
    worker.once('exit', () => this.#lost(slot));
    this.#started++;
    return slot;
  }

  #post(slot: Slot, message: ToWorker): void {
    if (slot.state === 'running') slot.worker.postMessage(message);
  }

  #received(slot: Slot, message: FromWorker): void {
    switch (message.kind) {
      case 'ready':
        return this.#ready(slot);
      case 'lookup':
        return this.#lookup(slot, message.job, message.call, message.name, message.type);
      case 'result':
      case 'failed': {
        const job = slot.jobs.get(message.job);
        if (job === undefined) return;
        slot.jobs.delete(message.job);
        job.slot = undefined;
        this.#settle(
          job,
          message.kind === 'result' ? { kind: 'done', results: message.results } : { kind: 'failed', reason: message.reason },
        );
        return this.#dispatch();
      }
      case 'cancelled':
        clearTimeout(slot.cancelling.get(message.job));
        slot.cancelling.delete(message.job);
        return;
      default: {
        const never: never = message;
        throw new Error(`unknown message from the check worker ${JSON.stringify(never)}`);
      }
    }
  }

  #ready(slot: Slot): void {
    slot.ready = true;
    clearTimeout(slot.startup);
    for (const job of [...slot.jobs.values(), ...this.#waiting]) if (!job.settled && job.waitsForStartup) this.#arm(job);
    for (const id of slot.cancelling.keys()) slot.cancelling.set(id, this.#grace(slot));
  }

  #lookup(slot: Slot, job: number, call: number, name: string, type: string): void {
    if (!slot.jobs.has(job)) return this.#post(slot, { kind: 'answer', call, error: { code: 'ECANCELLED', message: 'check is over' } });
    this.#o.resolver(name, type).then(
      (value) => this.#post(slot, { kind: 'answer', call, value }),
      (e: unknown) => {
        const code = (e as NodeJS.ErrnoException).code ?? 'ESERVFAIL';
        this.#post(slot, { kind: 'answer', call, error: { code, message: e instanceof Error ? e.message : String(e) } });
      },
    );
  }

  #terminate(slot: Slot): void {
    if (slot.state !== 'running') return;
    slot.state = 'stopping';
    if (this.#slot === slot) this.#slot = undefined;
    if (slot.ready) this.#terminated++;
    void slot.worker.terminate();
  }

  #lost(slot: Slot): void {
    slot.state = 'gone';
    if (this.#slot === slot) this.#slot = undefined;
    clearTimeout(slot.startup);
    for (const timer of slot.cancelling.values()) clearTimeout(timer);
    const orphans = [...slot.jobs.values()];
    slot.jobs.clear();
    for (const job of orphans.reverse()) {
      job.slot = undefined;
      if (!slot.ready) this.#settle(job, { kind: 'failed', reason: 'the check worker did not start' });
      else if (job.attempts >= 2) this.#settle(job, { kind: 'failed', reason: 'the check worker stopped' });
      else if (!job.settled) this.#waiting.unshift(job);
    }
    this.#dispatch();
  }
}
