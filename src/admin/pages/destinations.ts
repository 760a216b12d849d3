/** Destinations: routes, learnt path quirks (clear them), and `barge probe` run from the page. */
import { hostname } from 'node:os';
import { html } from 'hono/html';
import { forgetIfClean } from '../../probe/forget.js';
import { parseHostPort } from '../../protocol/host-port.js';
import { probePath, type ProbeReport } from '../../probe/probe.js';
import { action, pill, table, type Html, type PageContext } from '../layout.js';
import { done, field, flashOf, type AdminApp, type PageDeps, type RequestOf } from '../page-kit.js';

function stepRow(s: ProbeReport['steps'][number]): Html {
  const command = s.command === '' ? '(wait)' : s.command;
  const reply = s.reply === undefined ? (s.error === undefined ? 'ok' : `error: ${s.error}`) : `${s.reply.code} ${s.reply.text}`;
  return html`<tr><td>${s.step}</td><td class="mono">${command}</td><td class="mono">${reply}</td><td>${s.ms} ms</td></tr>`;
}

function report(r: ProbeReport, cleared: number): Html {
  const verdict = pill(r.verdict, r.exitCode === 0 ? 'ok' : 'bad');
  const forgotten = cleared > 0 ? ` The path is clean: ${cleared} quirk(s) forgotten.` : '';
  const keywords = r.keywords.join(', ') || '(none)';
  const masked = r.maskedKeywords.length === 0 ? '' : html` · masked: <span class="mono">${r.maskedKeywords.join(', ')}</span>`;
  return html`<h2>Probe of ${r.host}:${r.port}: ${verdict}</h2><p>${r.text}${forgotten}</p>
<p>Banner: <span class="mono">${r.banner ?? '(none)'}</span><br>Keywords: <span class="mono">${keywords}</span>${masked}</p>
${table(['Step', 'Command', 'Reply', 'Time'], r.steps.map(stepRow))}`;
}

const TARGET_FIELD = html`<label>Host[:port]<input name="target" placeholder="mx.example.com:25" required></label>`;
const TIMEOUT_FIELD = html`<label>Timeout (s)<input name="timeout" type="number" min="1" max="60" value="10"></label>`;

function probeForm(csrf: string): Html {
  return html`<form class="filters" method="post" action="/destinations/probe"><input type="hidden" name="_csrf" value="${csrf}">
${TARGET_FIELD}${TIMEOUT_FIELD}<button type="submit">Run probe</button></form>`;
}

export function registerDestinations(app: AdminApp, request: RequestOf, deps: PageDeps): void {
  const show = async (c: Parameters<RequestOf>[0], probe?: Html): Promise<Response> => {
    const r = request(c);
    const ctx: PageContext = { hostname: '', user: r.session.user, csrf: r.session.csrf, path: '/destinations' };
    const { quirks } = deps.server;
    await quirks.refresh();
    const d = deps.server.config().delivery;
    const clearOne = (destination: string): Html =>
      action(ctx, '/destinations/clear', 'Clear', { destination }, { confirm: `Forget what Barge learnt about ${destination}?` });
    const quirkRows = quirks.list().map((q) => {
      const learnt = html`<td>${q.reason}</td><td>${q.since}</td><td>${q.until}</td>`;
      return html`<tr><td class="mono">${q.destination}</td><td>${pill(q.kind)}</td>${learnt}<td>${clearOne(q.destination)}</td></tr>`;
    });
    const clearAll = action(ctx, '/destinations/clear', 'Clear all', {}, { confirm: 'Forget every learnt quirk?', danger: true });
    const routeRows = [...d.routes].map(([dom, hop]) => html`<tr><td>${dom}</td><td class="mono">${hop.host}:${hop.port}</td></tr>`);
    const otherHop = d.smartHost === undefined ? 'MX lookup' : `smart host ${d.smartHost.host}:${d.smartHost.port}`;
    const otherRow = html`<tr><td class="muted">other domains</td><td>${otherHop}</td></tr>`;
    const body = html`<h2>Learnt path quirks</h2>
${table(['Destination', 'Quirk', 'Reason', 'Learnt', 'Expires', ''], quirkRows, 'No quirks: every path gets BDAT and TLS where offered.')}
${quirkRows.length > 0 ? html`<p>${clearAll}</p>` : ''}
<h2>Routes</h2>${table(['Domain', 'Next hop'], [...routeRows, otherRow])}
<h2>Probe a path</h2>${probeForm(r.session.csrf)}
${probe ?? ''}`;
    return r.page('Destinations', body, flashOf(c));
  };
  app.get('/destinations', (c) => show(c));
  app.post('/destinations/clear', async (c) => {
    const target = await field(c, 'destination');
    const n = await deps.server.quirks.clear(target === '' ? undefined : target);
    return done(c, '/destinations', `Cleared ${n} quirk${n === 1 ? '' : 's'}${target === '' ? '' : ` for ${target}`}`);
  });
  app.post('/destinations/probe', async (c) => {
    const target = parseHostPort(await field(c, 'target'), { defaultPort: 25 });
    if (target === undefined) return done(c, '/destinations', 'Expected HOST[:PORT]', true);
    const seconds = Math.min(60, Math.max(1, Number(await field(c, 'timeout')) || 10));
    const r = await probePath({
      ...target,
      helo: deps.server.config().hostname || hostname(),
      from: '',
      rcpt: 'postmaster',
      timeoutMs: seconds * 1000,
      tls: true,
    });
    const cleared = await forgetIfClean(deps.server.quirks, target, undefined, r.exitCode);
    return show(c, report(r, cleared));
  });
}
