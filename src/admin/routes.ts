/** Registers every console page; each page module is a thin view over the same operations the command line uses. */
import type { AdminApp, PageDeps, RequestOf } from './page-kit.js';
import { registerOverview } from './pages/overview.js';
import { registerQueue } from './pages/queue.js';
import { registerTracking } from './pages/tracking.js';
import { registerLog } from './pages/log.js';
import { registerDestinations } from './pages/destinations.js';
import { registerListeners } from './pages/listeners.js';
import { registerUsers } from './pages/users.js';

export function registerPages(app: AdminApp, request: RequestOf, deps: PageDeps): void {
  for (const register of [
    registerOverview,
    registerQueue,
    registerTracking,
    registerLog,
    registerDestinations,
    registerListeners,
    registerUsers,
  ])
    register(app, request, deps);
}
