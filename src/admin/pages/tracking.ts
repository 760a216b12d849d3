/** Message tracking: search the tracking log; one message's story in order. */
import { html } from 'hono/html';
import type { TrackingRecord } from '../../log/tracking.js';
import { ReadBudget } from '../../log/line-reader.js';
import type { MessageSummary, Received, TrackingSearch } from '../../log/tracking-query.js';
import { searchTracking } from '../../log/tracking-search.js';
import { readStory } from '../../log/tracking-story.js';
import { dataPaths } from '../../config/paths.js';
import { pill, table, type Html } from '../layout.js';
import type { AdminApp, PageDeps, RequestOf } from '../page-kit.js';
import { readLimitNotice, shownTime } from './read-limit.js';
import { placeOf } from '../../log/bug.js';

function when(text: string | undefined): Date | undefined {
  if (text === undefined || text === '') return undefined;
  // A datetime-local value has no zone; the form asks for UTC, as the tracking log is written.
  const t = Date.parse(/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?$/.test(text) ? `${text}Z` : text);
  return Number.isNaN(t) ? undefined : new Date(t);
}

function receivedLine(r: Received): Html {
  const chunks = r.method === 'BDAT' ? html` in <b>${r.chunks} chunk${r.chunks === 1 ? '' : 's'}</b>` : '';
  const messageId = r.messageId === undefined ? '' : html`<span class="mono">${r.messageId}</span>, `;
  const from = html`<span class="mono">${r.from === '' ? '<>' : r.from}</span>`;
  const to = html`<span class="mono">${r.rcpts.join(', ')}</span>`;
  const by = html`by <b>${r.method}</b>${chunks}`;
  return html`Received on <b>${r.listener}</b> from ${r.helo} [${r.clientIp}] ${by}: ${messageId}${r.size} octets, ${r.body}, from ${from} to ${to}`;
}

function deliveredLine(r: Extract<TrackingRecord, { event: 'delivered' }>): Html {
  const chunks = r.method === 'BDAT' && r.chunks !== undefined ? ` in ${r.chunks} chunk(s)` : '';
  const method = r.method === undefined ? '' : html` by <b>${r.method}</b>${chunks}`;
  const fallback = r.fallback === undefined ? '' : html`<br>${pill('fallback')} ${r.fallback}`;
  const rcpt = html`<span class="mono">${r.rcpt}</span>`;
  return html`${pill('delivered')} ${rcpt} via ${r.via}${method}: <span class="mono">${r.detail}</span>${fallback}`;
}

/** One event in plain words: what happened, by which method, with which reply or reason. */
export function storyLine(r: TrackingRecord): Html {
  switch (r.event) {
    case 'received':
      return receivedLine(r);
    case 'delivered':
      return deliveredLine(r);
    case 'deferred':
      return html`${pill('deferred')} <span class="mono">${r.rcpt}</span>: <span class="mono">${r.reason}</span>${r.nextAttempt === undefined ? '' : ` (next attempt ${r.nextAttempt})`}`;
    case 'bounced':
      return html`${pill('bounced')} <span class="mono">${r.rcpt}</span>: <span class="mono">${r.reason}</span>`;
    case 'completed':
      return html`Left the queue: every recipient has its fate.`;
    case 'rejected':
      return html`${pill('rejected')} from ${r.clientIp}: ${r.reason}`;
    case 'quirk':
      return html`${pill(r.kind)} learnt for ${r.destination}: ${r.reason}`;
    case 'signed':
      return html`${pill('signed')} DKIM ${r.signatures.join(', ')}${r.converted === undefined ? '' : ` (${r.converted})`}`;
    case 'authenticated':
      return html`${pill(r.action)} Authentication-Results: <span class="mono">${r.results}</span>`;
    case 'tls-policy':
      return html`${pill(r.result)} TLS policy for ${r.domain}: ${r.policy}${r.detail === undefined ? '' : ` (${r.detail})`}`;
    case 'bug':
      return html`${pill('bug')} in the ${placeOf(r)}: <span class="mono">${r.message}</span>`;
  }
}

/** One message found by a search: its receipt and each recipient's outcome. */
function resultRow({ received: r, outcomes }: MessageSummary): Html {
  const method = html`${r.method}${r.method === 'BDAT' ? ` / ${r.chunks} chunk${r.chunks === 1 ? '' : 's'}` : ''}`;
  const id = html`<td class="mono"><a href="/tracking/${r.id}">${r.id}</a></td>`;
  const addresses = html`<td class="mono">${r.from === '' ? '<>' : r.from}</td><td class="mono">${r.rcpts.join(', ')}</td>`;
  const outcome = r.rcpts.map((x) => pill(outcomes.get(x) ?? 'queued'));
  return html`<tr><td class="when">${r.time.replace('T', ' ').slice(0, 19)}</td>${id}${addresses}<td>${method}</td><td>${outcome}</td></tr>`;
}

function storyRow(r: TrackingRecord): Html {
  return html`<tr><td class="mono when">${r.time.replace('T', ' ').slice(0, 23)}</td><td>${storyLine(r)}</td></tr>`;
}

export function registerTracking(app: AdminApp, request: RequestOf, deps: PageDeps): void {
  const dir = (): string => dataPaths(deps.server.config().dataDir).tracking;
  app.get('/tracking', async (c) => {
    const q = (k: string): string => c.req.query(k)?.trim() ?? '';
    const since = when(q('since'));
    const until = when(q('until'));
    const search: TrackingSearch = {
      id: q('id'),
      messageId: q('messageId'),
      sender: q('sender'),
      recipient: q('recipient'),
      ...(since === undefined ? {} : { since }),
      ...(until === undefined ? {} : { until }),
    };
    await deps.server.flushLogs();
    // Without a start time, the last week is searched.
    const from = since ?? new Date(deps.clock.now().getTime() - 7 * 86_400_000);
    const budget = new ReadBudget();
    const found = await searchTracking(dir(), { ...search, since: from }, { limit: 200, budget });
    const stopped =
      found.searchedBackTo === undefined
        ? ''
        : readLimitNotice(
            budget,
            shownTime(found.searchedBackTo),
            'Refine the search: a start and end time, a sender, a recipient or a queue id.',
          );
    const body = html`<form class="filters" method="get" action="/tracking">
<label>Queue id<input name="id" value="${q('id')}"></label><label>Message-ID<input name="messageId" value="${q('messageId')}"></label><label>Sender<input name="sender" value="${q('sender')}"></label>
<label>Recipient<input name="recipient" value="${q('recipient')}"></label>
<label>From (UTC)<input name="since" type="datetime-local" value="${q('since')}"></label><label>To (UTC)<input name="until" type="datetime-local" value="${q('until')}"></label>
<button type="submit">Search</button></form>
<p class="muted">Newest first, at most 200 messages${since === undefined ? ', from the last 7 days unless a start is given' : ''}.</p>
${stopped}${table(['Received', 'Queue id', 'Sender', 'Recipients', 'Method', 'Outcome'], found.messages.map(resultRow), 'No message matches.')}`;
    return request(c).page('Message tracking', body);
  });

  app.get('/tracking/:id', async (c) => {
    const id = c.req.param('id');
    await deps.server.flushLogs();
    const budget = new ReadBudget();
    const story = await readStory(dir(), id, budget);
    const stopped =
      story.stoppedAt === undefined
        ? ''
        : readLimitNotice(budget, shownTime(story.stoppedAt), 'Later events of this message were not read.', 'up');
    const body = html`<p><a href="/tracking">← Search</a> · <a href="/queue/${id}">Queue entry</a></p>
${table(['Time (UTC)', 'What happened'], story.records.map(storyRow), 'Nothing tracked for this id.')}${stopped}`;
    return request(c).page(`Message ${id}`, body);
  });
}
