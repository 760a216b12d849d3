/**
 * The certificates the listeners present (shown on the Listeners page): each configuration entry
 * with the names its certificate holds and its expiry.
 */
import { html } from 'hono/html';
import type { RunningServer } from '../../server/run.js';
import { pill, table, type Html } from '../layout.js';

const DAY_MS = 86_400_000;

function expiry(notAfter: Date, now: Date): Html {
  const days = Math.floor((notAfter.getTime() - now.getTime()) / DAY_MS);
  const left = days < 0 ? pill('expired', 'bad') : pill(`${days} days left`, days < 14 ? 'bad' : days < 30 ? 'warn' : 'ok');
  return html`${notAfter.toISOString()} ${left}`;
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
  return html`<h2>Certificates</h2>${intro}${table(['Entry', 'Names', 'Expires', 'Serial', 'Source'], rows)}`;
}
