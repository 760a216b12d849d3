/** What every console page is given and the small helpers they share: the app, its dependencies, the request, forms and flashes. */
import type { Context, Hono } from 'hono';
import type { Config } from '../config/types.js';
import type { RunningServer } from '../server/running.js';
import type { Clock } from '../time/clock.js';
import type { AdminAuth, AdminSession } from './auth.js';
import type { Html, PageContext } from './layout.js';
import type { Prebound } from '../server/listen.js';

export interface AdminDeps {
  readonly server: RunningServer;
  /** Re-reads the configuration as at start (file and flags) and applies it: the same as SIGHUP. */
  readonly reload: () => Promise<{ readonly ok: boolean; readonly message: string }>;
  /** The file the Listeners page writes (the config file, or the console's settings file). */
  readonly configFile: string;
  /** Builds the configuration from this file text with the command line's flags; throws ConfigError. */
  readonly check: (text: string) => Promise<Config>;
  readonly clock?: Clock;
  /** Sockets bound before the process gave up root: the console takes its own. */
  readonly prebound?: Prebound | undefined;
}

/** What every authenticated handler gets. */
export interface AdminRequest {
  readonly c: Context<AdminEnv>;
  readonly session: AdminSession;
  readonly page: (title: string, body: Html, flash?: PageContext['flash']) => Promise<Response>;
}

export type AdminEnv = { Variables: { session: AdminSession } };
export type AdminApp = Hono<AdminEnv>;
export type PageDeps = AdminDeps & { readonly clock: Clock; readonly auth: AdminAuth };
export type RequestOf = (c: Context<AdminEnv>) => AdminRequest;

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
