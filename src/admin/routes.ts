/** Registers every console page; each page module is a thin view over the CLI's own modules. */
import type { Context, Hono } from 'hono';
import type { AdminAuth, AdminSession } from './auth.js';
import type { AdminDeps, AdminRequest } from './server.js';
import { registerOverview } from './pages/overview.js';
import { registerQueue } from './pages/queue.js';
import { registerTracking } from './pages/tracking.js';
import { registerLog } from './pages/log.js';
import { registerDestinations } from './pages/destinations.js';
import { registerListeners } from './pages/listeners.js';
import { registerUsers } from './pages/users.js';

export type AdminEnv = { Variables: { session: AdminSession } };
export type AdminApp = Hono<AdminEnv>;
export type PageDeps = AdminDeps & { readonly now: () => Date; readonly auth: AdminAuth };
export type RequestOf = (c: Context<AdminEnv>) => AdminRequest;

export function registerPages(app: AdminApp, request: RequestOf, deps: PageDeps): void {
  for (const register of [registerOverview, registerQueue, registerTracking, registerLog, registerDestinations, registerListeners, registerUsers]) register(app, request, deps);
}

/** A form field as a trimmed string ('' when absent). */
export async function field(c: Context<AdminEnv>, name: string): Promise<string> {
  const body = await c.req.parseBody();
  const v = body[name];
  return typeof v === 'string' ? v.trim() : '';
}

/** Redirects after a POST with a message for the next page (Post/Redirect/Get). */
export function done(c: Context<AdminEnv>, to: string, message: string, error = false): Response {
  const url = new URL(to, 'http://x');
  url.searchParams.set(error ? 'error' : 'msg', message);
  return c.redirect(`${url.pathname}${url.search}`, 303);
}

/** The flash message carried by `done`. */
export function flashOf(c: Context<AdminEnv>): { text: string; error?: boolean } | undefined {
  const error = c.req.query('error');
  if (error !== undefined) return { text: error, error: true };
  const msg = c.req.query('msg');
  return msg === undefined ? undefined : { text: msg };
}
