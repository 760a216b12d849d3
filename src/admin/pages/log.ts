/** Protocol log: each listener's W3C log, newest entries first, searchable, IIS field names as headers. */
import { join } from 'node:path';
import { html } from 'hono/html';
import { ReadBudget } from '../../log/line-reader.js';
import { readProtocolLog } from '../../log/w3c-read.js';
import { dataPaths } from '../../config/paths.js';
import { table, type Html } from '../layout.js';
import type { AdminApp, PageDeps, RequestOf } from '../page-kit.js';
import { readLimitNotice } from './read-limit.js';

const OUTBOUND_NOTE = 'Outbound sessions are the lines whose cs-username is OutboundConnectionCommand or OutboundConnectionResponse.';

export function registerLog(app: AdminApp, request: RequestOf, deps: PageDeps): void {
  app.get('/log', async (c) => {
    const config = deps.server.config();
    const name = c.req.query('listener') ?? config.listeners[0]?.name ?? '';
    const listener = config.listeners.find((l) => l.name === name) ?? config.listeners[0];
    const search = c.req.query('q') ?? '';
    const file = c.req.query('file');
    await deps.server.flushLogs();
    const folder = listener === undefined ? undefined : join(dataPaths(config.dataDir).log, listener.logFolder);
    const budget = new ReadBudget();
    const options = { search, limit: 500, budget, ...(file === undefined ? {} : { file }) };
    const log = folder === undefined ? undefined : await readProtocolLog(folder, options);
    const listenerOptions = config.listeners.map(
      (l) => html`<option value="${l.name}" ${l.name === listener?.name ? 'selected' : ''}>${l.name} (${l.logFolder})</option>`,
    );
    const fileOptions = (log?.files ?? []).map((f) => html`<option ${f === log?.file ? 'selected' : ''}>${f}</option>`);
    const cell = (v: string, i: number): Html => html`<td class="mono ${log?.fields[i] === 'cs-uri-query' ? 'wrap' : ''}">${v}</td>`;
    const rows = (log?.rows ?? []).map((r) => html`<tr>${r.map(cell)}</tr>`);
    // exYYMMDD.log: the file names the day, the entries the time.
    const day = /^ex(\d\d)(\d\d)(\d\d)/.exec(log?.file ?? '');
    const reached =
      log?.searchedBackTo === undefined || log.searchedBackTo === '' || day === null
        ? ''
        : `20${day[1]}-${day[2]}-${day[3]} ${log.searchedBackTo}`;
    const stopped =
      log?.searchedBackTo === undefined ? '' : readLimitNotice(budget, reached, 'Refine the search, or choose an earlier file.');
    const body = html`<form class="filters" method="get" action="/log">
<label>Listener<select name="listener">${listenerOptions}</select></label>
<label>File<select name="file">${fileOptions}</select></label>
<label>Search<input name="q" value="${search}" placeholder="address, verb, IP, status"></label><button type="submit">Show</button></form>
${!config.log.w3c.enabled ? html`<p class="flash">The W3C log is turned off (<code>[log] w3c = false</code>).</p>` : ''}
<p class="muted">Newest first; at most 500 entries${search === '' ? '' : ' matching the search'}. ${OUTBOUND_NOTE}</p>${stopped}
<div class="scroll">${table(log?.fields ?? [], rows, 'No entries.')}</div>`;
    return request(c).page('Protocol log', body);
  });
}
