/**
 * The certificates the listeners present (shown on the Listeners page): each configuration entry
 * with the names its certificate holds and its expiry, and the ACME renewer's state (last success,
 * next order, last error) when `[acme]` is configured.
 */
import { html } from 'hono/html';
import type { RunningServer } from '../../server/running.js';
import { pill, table, type Html } from '../layout.js';

const DAY_MS = 86_400_000;

function expiry(notAfter: Date, now: Date): Html {
  const days = Math.floor((notAfter.getTime() - now.getTime()) / DAY_MS);
  const left = days < 0 ? pill('expired', 'bad') : pill(`${days} days left`, days < 14 ? 'bad' : days < 30 ? 'warn' : 'ok');
  return html`${notAfter.toISOString()} ${left}`;
}

const when = (d: Date | undefined): string => d?.toISOString() ?? '—';

function acmeSection(server: RunningServer): Html {
  const s = server.acme?.status();
  if (s === undefined) return html``;
  const state = s.ordering
    ? pill('ordering', 'warn')
    : s.lastError !== undefined && (s.lastSuccess === undefined || s.lastError.at > s.lastSuccess)
      ? pill('failed')
      : pill('ok');
  const error = s.lastError === undefined ? '—' : html`${s.lastError.at.toISOString()}: <span class="mono">${s.lastError.message}</span>`;
  const rows = [
    html`<tr><td>State</td><td>${state} <span class="muted">${s.failures} failed order(s) since start</span></td></tr>`,
    html`<tr><td>Directory</td><td class="mono">${s.directory}</td></tr>`,
    html`<tr><td>Names</td><td class="mono">${s.names.join(', ')}</td></tr>`,
    html`<tr><td>Serving</td><td class="mono">${s.certificate === undefined ? '—' : `serial ${s.certificate.serial}`}</td></tr>`,
    html`<tr><td>Last success</td><td>${when(s.lastSuccess)}</td></tr>`,
    html`<tr><td>Next order</td><td>${when(s.nextAttempt)}</td></tr>`,
    html`<tr><td>Last error</td><td>${error}</td></tr>`,
  ];
  return html`<h3>ACME <span class="muted">HTTP-01 on port ${s.httpPort}</span></h3>${table(['', ''], rows)}`;
}

/** The Certificates section: empty when no listener uses TLS. */
export function certificatesSection(server: RunningServer, now: Date): Html {
  const tls = server.tls;
  if (tls === undefined) return html``;
  const rows = tls.certificates().map((c) => {
    const held = html`<td class="mono">${c.entry}</td><td class="mono">${c.names.join(', ')}</td>`;
    return html`<tr>${held}<td>${expiry(c.notAfter, now)}</td><td class="mono">${c.serial}</td><td class="muted">${c.source}</td></tr>`;
  });
  const intro = html`<p class="muted">Chosen by the name a client asks for (SNI); clients that ask for no name, or an unknown one, get the default.</p>`;
  return html`<h2>Certificates</h2>${intro}${table(['Entry', 'Names', 'Expires', 'Serial', 'Source'], rows)}${acmeSection(server)}`;
}
