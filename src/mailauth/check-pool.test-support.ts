/**
 * A stand-in for the check worker, for the pool's tests: it speaks the same protocol, and what it
 * does depends on the request's path: "quick" answers at once, "dns:NAME" asks the pool's resolver
 * for NAME and answers with what it got, "wait" never answers (but confirms a cancellation), and
 * "spin" keeps its event loop busy for 20 s (a stuck check). It says it is ready after
 * STAND_IN_READY_AFTER_MS (from its environment), as the real one does once the library is loaded.
 */
import { parentPort } from 'node:worker_threads';
import type { FromWorker, ToWorker } from './check-types.js';

const port = parentPort;
if (port === null) throw new Error('run as a worker thread');
const send = (m: FromWorker): void => port.postMessage(m);
const calls = new Map<number, (text: string) => void>();
let nextCall = 1;

const answer = (job: number, text: string): void =>
  send({ kind: 'result', job, results: { results: [{ method: 'dkim', result: 'none', comments: [text], props: [] }] } });

const readyAfter = Number(process.env.STAND_IN_READY_AFTER_MS ?? 0);
if (readyAfter > 0) setTimeout(() => send({ kind: 'ready' }), readyAfter);
else send({ kind: 'ready' });
port.on('message', (m: ToWorker) => {
  if (m.kind === 'cancel') return send({ kind: 'cancelled', job: m.job });
  if (m.kind === 'answer') return calls.get(m.call)?.(m.error === undefined ? JSON.stringify(m.value) : `error ${m.error.code}`);
  const path = m.request.path;
  if (path === 'quick') return answer(m.job, 'quick');
  if (path === 'spin') {
    const until = Date.now() + 20_000;
    while (Date.now() < until);
    return answer(m.job, 'spun');
  }
  if (path.startsWith('dns:')) {
    const call = nextCall++;
    calls.set(call, (text) => answer(m.job, text));
    send({ kind: 'lookup', job: m.job, call, name: path.slice(4), type: 'TXT' });
  }
});
