/**
 * The check worker (a worker thread that check-pool.ts starts): runs messages' checks (checks.ts) as
 * the main thread asks, several at once, and asks the main thread's caching resolver for every DNS
 * answer over its port. A cancelled check stops reading its message and gets no more DNS answers,
 * and the worker says so at once: that reply tells the pool its event loop is free (a worker that
 * does not reply is stuck in synchronous work and is terminated). The library prints diagnostics of
 * its own (a line per DKIM signature with an l= tag, for one); nothing of it reaches Barge's output.
 */
import { parentPort } from 'node:worker_threads';
import type { CheckRequest, DnsFailure, FromWorker, ToWorker } from './check-types.js';
import { runChecks } from './checks.js';
import type { MailAuthResolver } from './dns-cache.js';
import { inboundChecks } from './library.js';
import { lowerThreadPriority } from './thread-priority.js';

const quiet = (): void => undefined;
for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace', 'dir'] as const) console[method] = quiet;
// A cancelled check's streams may still reject after it was abandoned; that is expected, not a crash.
process.on('unhandledRejection', quiet);

const port = parentPort;
if (port === null) throw new Error('the check worker runs as a worker thread');
const send = (message: FromWorker): void => port.postMessage(message);

const running = new Map<number, AbortController>();
const calls = new Map<number, { readonly job: number; readonly resolve: (value: unknown) => void; readonly reject: (e: Error) => void }>();
let nextCall = 1;

const cancelled = (): Error => Object.assign(new Error('check cancelled'), { code: 'ECANCELLED' });

function lookup(job: number, signal: AbortSignal): MailAuthResolver {
  return (name, type) =>
    new Promise((resolve, reject) => {
      if (signal.aborted) return reject(cancelled());
      const call = nextCall++;
      calls.set(call, { job, resolve, reject });
      send({ kind: 'lookup', job, call, name, type });
    });
}

function start(job: number, request: CheckRequest): void {
  const abort = new AbortController();
  running.set(job, abort);
  runChecks(request, lookup(job, abort.signal), abort.signal).then(
    (results) => {
      if (running.delete(job)) send({ kind: 'result', job, results });
    },
    (e: unknown) => {
      if (running.delete(job)) send({ kind: 'failed', job, reason: e instanceof Error ? e.message : String(e) });
    },
  );
}

function cancel(job: number): void {
  running.get(job)?.abort();
  running.delete(job);
  for (const [id, call] of calls) {
    if (call.job !== job) continue;
    calls.delete(id);
    call.reject(cancelled());
  }
  send({ kind: 'cancelled', job });
}

function answer(call: number, value: unknown, error: DnsFailure | undefined): void {
  const waiting = calls.get(call);
  if (waiting === undefined) return;
  calls.delete(call);
  if (error === undefined) waiting.resolve(value);
  else waiting.reject(Object.assign(new Error(error.message), { code: error.code }));
}

port.on('message', (message: ToWorker) => {
  switch (message.kind) {
    case 'check':
      return start(message.job, message.request);
    case 'cancel':
      return cancel(message.job);
    case 'answer':
      return answer(message.call, message.value, message.error);
    default: {
      const never: never = message;
      throw new Error(`unknown request ${JSON.stringify(never)}`);
    }
  }
});
// Checks are asked for at once and wait in the port's queue while the library loads; the pool starts
// their time budgets when the worker says it is ready (loading is local work, the budget is for DNS).
// A library that cannot be loaded ends the worker, and the checks waiting for it fail.
// The library loads at the process's priority (it holds up the first reply); the checks run at a lower one.
await inboundChecks();
lowerThreadPriority();
send({ kind: 'ready' });
