/** The notice a page shows when the bound on the log bytes one request may read stopped it early. */
import { html } from 'hono/html';
import type { ReadBudget } from '../../log/line-reader.js';
import type { Html } from '../layout.js';

const mib = (n: number): string => `${Math.round(n / (1024 * 1024))} MiB`;
/** An ISO time as the pages show times: `2024-03-05 10:00:00`. */
export const shownTime = (iso: string): string => iso.replace('T', ' ').slice(0, 19);

/**
 * `reached`: how far the reading got, as shown (a time, or '' when unknown): back to it (a search,
 * newest first) or up to it (a story, in time order).
 */
export function readLimitNotice(budget: ReadBudget, reached: string, advice: string, way: 'back' | 'up' = 'back'): Html {
  const where = reached === '' ? '' : html` ${way === 'back' ? 'back' : 'up'} to <span class="mono">${reached}</span>`;
  return html`<p class="flash" role="status">${way === 'back' ? 'Searched' : 'Read'}${where}: a page reads at most ${mib(budget.limit)} of log. ${advice}</p>`;
}
