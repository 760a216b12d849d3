/** Overview: traffic per minute for the last hour, queue size, BDAT vs DATA, fallbacks and quirks today, listeners. */
import { html } from 'hono/html';
import { ReadBudget } from '../../log/line-reader.js';
import { DayTally, perMinute, type MinuteCounts } from '../../log/tracking-tally.js';
import { dataPaths } from '../../config/paths.js';
import { table, type Html } from '../layout.js';
import type { AdminApp, PageDeps, RequestOf } from '../page-kit.js';
import { shownTime } from './read-limit.js';

const COLOURS: Record<keyof MinuteCounts, string> = { received: '#1f5fa8', delivered: '#1d7a46', deferred: '#c98a00', bounced: '#b3261e' };

function chart(counts: MinuteCounts): Html {
  const w = 720;
  const h = 170;
  const max = Math.max(1, ...Object.values(counts).flat());
  const x = (i: number): number => 30 + (i * (w - 40)) / 59;
  const y = (n: number): number => h - 20 - (n * (h - 35)) / max;
  const points = (k: keyof MinuteCounts): string => counts[k].map((n, i) => `${x(i).toFixed(1)},${y(n).toFixed(1)}`).join(' ');
  const line = (k: keyof MinuteCounts): Html => html`<polyline fill="none" stroke="${COLOURS[k]}" stroke-width="2" points="${points(k)}"/>`;
  const label = (tx: number, ty: number, text: string | number): Html =>
    html`<text x="${tx}" y="${ty}" font-size="11" fill="#5c6b7a">${text}</text>`;
  const swatch = (k: keyof MinuteCounts): Html =>
    html`<svg width="10" height="10"><rect width="10" height="10" fill="${COLOURS[k]}"/></svg>`;
  const keys = Object.keys(COLOURS) as Array<keyof MinuteCounts>;
  return html`<svg class="chart" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="messages per minute, last hour">
<line x1="30" y1="${h - 20}" x2="${w - 10}" y2="${h - 20}" stroke="#c9d1db"/>${label(4, 18, max)}${label(4, h - 22, 0)}
${label(30, h - 5, '60 min ago')}${label(w - 40, h - 5, 'now')}
${keys.map(line)}</svg>
<div class="legend">${keys.map((k) => html`<span>${swatch(k)} ${k} (${counts[k].reduce((a, b) => a + b, 0)})</span>`)}</div>`;
}

const share = (a: number, b: number): string =>
  a + b === 0 ? '–' : `${Math.round((100 * a) / (a + b))}% BDAT · ${Math.round((100 * b) / (a + b))}% DATA`;

export function registerOverview(app: AdminApp, request: RequestOf, deps: PageDeps): void {
  // Today's totals are counted on from where the last view stopped (one tally per tracking folder).
  const tallies = new Map<string, DayTally>();
  app.get('/', async (c) => {
    const { server } = deps;
    const now = deps.clock.now();
    const dir = dataPaths(server.config().dataDir).tracking;
    const tally = tallies.get(dir) ?? new DayTally(dir);
    tallies.set(dir, tally);
    const budget = new ReadBudget();
    const minutes = await perMinute(dir, now, budget);
    const { counts: t, countedTo } = await tally.today(now, budget);
    const counts = await server.queueCounts();
    const queued = [...counts.values()].reduce((a, b) => a + b, 0);
    const open = (await server.metrics?.registry.getSingleMetric('barge_open_connections')?.get())?.values[0]?.value ?? 0;
    const card = (label: string, value: string | number, note = ''): Html =>
      html`<div class="card"><div class="l">${label}</div><div class="n">${value}</div><div class="muted">${note}</div></div>`;
    const listeners = server.addresses.map(
      (a) => html`<tr><td>${a.name}</td><td class="mono">${a.host}:${a.port}</td><td><span class="pill ok">up</span></td></tr>`,
    );
    const body = html`<div class="cards">
${card('In the queue', queued, [...counts].map(([k, n]) => `${n} ${k}`).join(' · '))}
${card('Open connections', open)}
${card('Inbound today', t.inBdat + t.inData, share(t.inBdat, t.inData))}
${card('Outbound today', t.outBdat + t.outData, share(t.outBdat, t.outData))}
${card('Fallbacks today', t.fallbacks, 'BDAT → DATA')}
${card('Quirks learnt today', t.quirks, `${server.quirks.list().length} in force`)}
</div>${countedTo === undefined ? '' : html`<p class="muted">Today's totals are counted up to ${shownTime(countedTo)}; the next views count on.</p>`}
<h2>Messages per minute, last hour</h2>${chart(minutes)}
<h2>Listeners</h2>${table(['Name', 'Address', 'State'], listeners)}`;
    return request(c).page('Overview', body);
  });
}
