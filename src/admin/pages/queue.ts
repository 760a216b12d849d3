/** Queue: filtered, paged entries; one entry's envelope and recipients; retry, hold/release, delete, bounce. */
import { html } from 'hono/html';
import {
  bounceEntry,
  deleteEntry,
  holdEntry,
  listEntries,
  loadEntry,
  retryEntries,
  SCAN_LIMIT,
  type EntryKind,
  type QueueEntry,
  type QueueFilter,
} from '../../queue/operations.js';
import { makeIdSource } from '../../message/queue-id.js';
import { action, age, pill, table, type Html, type PageContext } from '../layout.js';
import { done, flashOf, type AdminApp, type PageDeps, type RequestOf } from '../page-kit.js';

const PAGE_SIZE = 50;
const KINDS: readonly EntryKind[] = ['queued', 'deferred', 'held'];
const HEADERS = ['Queue id', 'Age', 'Sender', 'Pending recipients', 'Size', 'Method / chunks', 'State'];

function filterOf(q: (k: string) => string | undefined): QueueFilter {
  const domain = q('domain')?.trim().toLowerCase();
  const kind = KINDS.find((k) => k === q('state'));
  const minutes = Number(q('older') ?? '');
  return {
    ...(domain === undefined || domain === '' ? {} : { domain }),
    ...(kind === undefined ? {} : { kind }),
    ...(Number.isFinite(minutes) && minutes > 0 ? { olderThanMs: minutes * 60_000 } : {}),
  };
}

function row(e: QueueEntry, now: Date): Html {
  const pending = e.state.rcpts.filter((r) => r.status === 'pending');
  const { envelope } = e;
  const from = envelope.transaction.from === '' ? '<>' : envelope.transaction.from;
  const method = html`${envelope.method}${envelope.method === 'BDAT' ? ` / ${envelope.chunks}` : ''}`;
  return html`<tr><td class="mono"><a href="/queue/${e.id}">${e.id}</a></td><td>${age(envelope.receivedAt, now)}</td><td class="mono">${from}</td>
<td class="mono">${pending.map((r) => r.address).join(', ')}</td><td>${envelope.size}</td><td>${method}</td><td>${pill(e.kind)}</td></tr>`;
}

function actions(ctx: PageContext, id: string, held: boolean): Html {
  return html`<p>${action(ctx, `/queue/${id}/retry`, 'Retry now')} ${action(ctx, `/queue/${id}/${held ? 'release' : 'hold'}`, held ? 'Release' : 'Hold')}
${action(ctx, `/queue/${id}/bounce`, 'Bounce', {}, { confirm: `Bounce ${id}? The sender gets a failure notice.`, danger: true })}
${action(ctx, `/queue/${id}/delete`, 'Delete', {}, { confirm: `Delete ${id}? No notice is sent to the sender.`, danger: true })}</p>`;
}

export function registerQueue(app: AdminApp, request: RequestOf, deps: PageDeps): void {
  app.get('/queue', async (c) => {
    const filter = filterOf((k) => c.req.query(k));
    const after = c.req.query('after');
    const now = deps.clock.now();
    const { entries, next, total } = await listEntries(deps.server.spool, filter, after === '' ? undefined : after, PAGE_SIZE, now);
    const link = (cursor: string | undefined): string => {
      const params = {
        domain: c.req.query('domain') ?? '',
        state: c.req.query('state') ?? '',
        older: c.req.query('older') ?? '',
        after: cursor ?? '',
      };
      const u = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== ''));
      return `/queue?${u.toString()}`;
    };
    const shownAfter = after === undefined ? '' : ` after ${after}`;
    const scanned = next !== undefined && entries.length < PAGE_SIZE ? `; ${SCAN_LIMIT} entries examined, go on with Older` : '';
    const body = html`<form class="filters" method="get" action="/queue">
<label>Recipient domain<input name="domain" value="${c.req.query('domain') ?? ''}" placeholder="example.com"></label>
<label>State<select name="state"><option value="">any</option>${KINDS.map((k) => html`<option ${filter.kind === k ? 'selected' : ''}>${k}</option>`)}</select></label>
<label>Older than (minutes)<input name="older" type="number" min="0" value="${c.req.query('older') ?? ''}"></label>
<button type="submit">Filter</button></form>
<p class="muted">${total} message(s) in the queue; ${entries.length} shown${shownAfter}, oldest first${scanned}.</p>
${table(
  HEADERS,
  entries.map((e) => row(e, now)),
  next === undefined ? 'No entry matches.' : 'No match among the entries examined so far.',
)}
<div class="pager">${after === undefined ? '' : html`<a href="${link(undefined)}">⇤ Oldest</a>`}${next === undefined ? '' : html`<a href="${link(next)}">Older →</a>`}</div>`;
    return request(c).page('Queue', body, flashOf(c));
  });

  app.get('/queue/:id', async (c) => {
    const r = request(c);
    const entry = await loadEntry(deps.server.spool, c.req.param('id'));
    if (entry === undefined) {
      const id = c.req.param('id');
      const lookUp = html`<a href="/tracking?id=${id}">Look it up in tracking</a>`;
      return r.page('Queue entry', html`<p>No queue entry ${id}: it may have been delivered. ${lookUp}.</p>`);
    }
    const { envelope: e, state } = entry;
    const ctx: PageContext = { hostname: '', user: r.session.user, csrf: r.session.csrf, path: '/queue' };
    const rcpts = state.rcpts.map((x) => {
      const next = x.nextAttempt ?? (x.status === 'pending' ? 'now' : '–');
      const last = html`<td class="mono">${x.lastResult ?? '–'}</td>`;
      return html`<tr><td class="mono">${x.address}</td><td>${pill(x.status)}</td><td>${x.attempts}</td>${last}<td>${next}</td></tr>`;
    });
    const body = html`${actions(ctx, entry.id, entry.kind === 'held')}
${table(
  ['Field', 'Value'],
  [
    html`<tr><td>Received</td><td>${e.receivedAt} on ${e.listener} from ${e.helo} [${e.clientIp}]</td></tr>`,
    html`<tr><td>Sender</td><td class="mono">${e.transaction.from === '' ? '<>' : e.transaction.from}</td></tr>`,
    html`<tr><td>Size</td><td>${e.size} octets</td></tr>`,
    html`<tr><td>Body type</td><td>${e.transaction.body}${e.transaction.smtputf8 ? ' · SMTPUTF8' : ''}</td></tr>`,
    html`<tr><td>Transfer</td><td>${e.method}${e.method === 'BDAT' ? ` in ${e.chunks} chunk(s)` : ''}</td></tr>`,
    html`<tr><td>State</td><td>${pill(entry.kind)}</td></tr>`,
  ],
)}
<h2>Recipients</h2>${table(['Recipient', 'State', 'Attempts', 'Last reply', 'Next attempt'], rcpts)}
<p><a href="/tracking/${entry.id}">The message's story in the tracking log →</a></p>`;
    return r.page(`Queue entry ${entry.id}`, body, flashOf(c));
  });

  app.post('/queue/:id/:op', async (c) => {
    const id = c.req.param('id');
    const op = c.req.param('op');
    const { spool, track } = deps.server;
    const config = deps.server.config();
    let ok = false;
    if (op === 'retry') ok = (await retryEntries(spool, [id])) > 0;
    else if (op === 'hold' || op === 'release') ok = await holdEntry(spool, id, op === 'hold');
    else if (op === 'delete') ok = await deleteEntry(spool, id);
    else if (op === 'bounce') {
      ok = await bounceEntry(
        {
          spool,
          nextId: makeIdSource(deps.clock),
          hostname: config.hostname,
          localDomains: config.localDomains,
          clock: deps.clock,
          queued: (q, env) => deps.server.runner.wake(q, env),
          track,
        },
        id,
      );
    }
    if ((op === 'retry' || op === 'release') && ok) deps.server.runner.wake(id);
    if (!ok) return done(c, '/queue', `No queue entry ${id} (or unknown action ${op})`, true);
    const gone = op === 'delete' || op === 'bounce';
    const outcome =
      op === 'retry'
        ? 'due now'
        : op === 'hold'
          ? 'held'
          : op === 'release'
            ? 'released'
            : op === 'delete'
              ? 'deleted'
              : 'bounced; the sender gets a failure notice';
    return done(c, gone ? '/queue' : `/queue/${id}`, `${id}: ${outcome}`);
  });
}
