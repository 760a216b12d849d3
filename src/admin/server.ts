/**
 * The admin listener: the web console, `/metrics` (Prometheus text format) and `/healthz`/`/readyz`.
 * Loopback by default; HTTPS with the SMTP certificate when it listens anywhere else. Every page
 * but the login form needs a session cookie (HttpOnly, SameSite=Strict); every POST needs the
 * session's CSRF token. The pages are a thin layer over the modules the command line uses.
 */
import { createServer as createHttp, type Server } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { isIP } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { getCookie, setCookie, deleteCookie } from 'hono/cookie';
import type { Config } from '../config/types.js';
import type { RunningServer } from '../server/run.js';
import { TlsCredentials } from '../server/tls.js';
import { listenOn } from '../server/listen.js';
import { AdminAuth, sameSecret, type AdminSession } from './auth.js';
import { CSS, SCRIPT } from './assets.js';
import { loginPage, page, type Html, type PageContext } from './layout.js';
import { registerPages, type AdminEnv } from './routes.js';

export interface AdminDeps {
  readonly server: RunningServer;
  /** Re-reads the configuration as at start (file and flags) and applies it: the same as SIGHUP. */
  readonly reload: () => Promise<{ readonly ok: boolean; readonly message: string }>;
  /** The file the Listeners page writes (the config file, or the console's settings file). */
  readonly configFile: string;
  /** Builds the configuration from this file text with the command line's flags; throws ConfigError. */
  readonly check: (text: string) => Promise<Config>;
  readonly now?: () => Date;
}

export interface RunningAdmin {
  readonly url: string;
  /** A one-time login link while no admin user exists. */
  readonly setupUrl: string | undefined;
  /** Takes the SMTP certificate again after a reload (HTTPS only). */
  refreshTls(): void;
  close(): Promise<void>;
}

const COOKIE = 'barge_session';

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

/** What every authenticated handler gets. */
export interface AdminRequest {
  readonly c: Context<AdminEnv>;
  readonly session: AdminSession;
  readonly page: (title: string, body: Html, flash?: PageContext['flash']) => Promise<Response>;
}

export async function startAdmin(config: Config, deps: AdminDeps): Promise<RunningAdmin> {
  const admin = config.admin;
  if (admin === undefined) throw new Error('the admin console is turned off');
  const now = deps.now ?? ((): Date => new Date());
  const auth = new AdminAuth({ dataDir: config.dataDir, now, maxFailures: config.auth.maxFailures, failureWindowMs: config.auth.failureWindowMs });
  const secure = !isLoopback(admin.listen.host);
  const app = new Hono<AdminEnv>();

  app.use('*', async (c, next) => {
    await next();
    c.header('Content-Security-Policy', "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'");
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'no-referrer');
    c.header('Cache-Control', 'no-store');
  });
  app.get('/static/console.css', (c) => c.body(CSS, 200, { 'Content-Type': 'text/css; charset=utf-8' }));
  app.get('/static/console.js', (c) => c.body(SCRIPT, 200, { 'Content-Type': 'text/javascript; charset=utf-8' }));
  app.get('/healthz', (c) => c.text('ok\n'));
  // Ready once the listeners are bound and the spool answers.
  app.get('/readyz', async (c) => {
    try {
      await deps.server.spool.list();
      return c.text(deps.server.addresses.length > 0 ? 'ready\n' : 'no listener\n', deps.server.addresses.length > 0 ? 200 : 503);
    } catch (e) {
      return c.text(`spool unavailable: ${e instanceof Error ? e.message : String(e)}\n`, 503);
    }
  });
  app.get('/metrics', async (c) => {
    const registry = deps.server.metrics?.registry;
    if (registry === undefined) return c.text('metrics are kept only when the server starts with the console configured\n', 404);
    return c.body(await registry.metrics(), 200, { 'Content-Type': registry.contentType });
  });

  const startSession = (c: Context, id: string): Response => {
    setCookie(c, COOKIE, id, { httpOnly: true, sameSite: 'Strict', path: '/', secure });
    return c.redirect('/', 303);
  };
  const clientIp = (c: Context): string => {
    const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
    return env?.incoming?.socket?.remoteAddress ?? 'unknown';
  };
  app.get('/login', async (c) => c.html(await loginPage(config.hostname)));
  app.post('/login', async (c) => {
    const ip = clientIp(c);
    if (auth.limited(ip)) return c.html(await loginPage(config.hostname, 'Too many failed logins from your address; try again later.'), 429);
    const body = await c.req.parseBody();
    const id = await auth.login(ip, String(body.user ?? ''), String(body.password ?? ''));
    if (id === undefined) return c.html(await loginPage(config.hostname, 'Wrong user or password, or not an administrator.'), 401);
    return startSession(c, id);
  });
  app.get('/setup', async (c) => {
    const id = auth.useSetup(c.req.query('token') ?? '');
    if (id === undefined) return c.html(await loginPage(config.hostname, 'This setup link was used already or has expired.'), 403);
    setCookie(c, COOKIE, id, { httpOnly: true, sameSite: 'Strict', path: '/', secure });
    return c.redirect('/users?setup=1', 303);
  });

  // Everything below needs a session; every POST also its CSRF token.
  app.use('*', async (c, next) => {
    const session = auth.session(getCookie(c, COOKIE));
    if (session === undefined) return c.req.method === 'GET' ? c.redirect('/login', 303) : c.text('log in first\n', 403);
    if (c.req.method === 'POST') {
      const body = await c.req.parseBody();
      if (!sameSecret(String(body._csrf ?? ''), session.csrf)) return c.text('bad or missing CSRF token\n', 403);
    }
    c.set('session', session);
    await next();
  });
  app.post('/logout', (c) => {
    auth.logout(getCookie(c, COOKIE));
    deleteCookie(c, COOKIE, { path: '/' });
    return c.redirect('/login', 303);
  });
  const request = (c: Context<AdminEnv>): AdminRequest => {
    const session = c.get('session');
    return {
      c,
      session,
      page: async (title, body, flash) =>
        c.html(await page({ hostname: config.hostname, user: session.user, csrf: session.csrf, path: new URL(c.req.url).pathname, ...(flash === undefined ? {} : { flash }) }, title, body)),
    };
  };
  registerPages(app, request, { ...deps, now, auth });

  const listener = getRequestListener(app.fetch);
  const tls = secure ? (deps.server.tls ?? (await TlsCredentials.open(config, now))) : undefined;
  const https = tls === undefined ? undefined : createHttps({ ...tls.pem, minVersion: 'TLSv1.2' }, listener);
  const http: Server = https ?? createHttp(listener);
  await listenOn(http, admin.listen.host, admin.listen.port, 'the console, [admin] listen or --admin-listen');
  const bound = http.address();
  const port = typeof bound === 'object' && bound !== null ? bound.port : admin.listen.port;
  const host = admin.listen.host.includes(':') ? `[${admin.listen.host}]` : admin.listen.host;
  const url = `${secure ? 'https' : 'http'}://${host}:${port}/`;
  const token = await auth.setupToken();
  return {
    url,
    setupUrl: token === undefined ? undefined : `${url}setup?token=${token}`,
    refreshTls: () => {
      if (tls !== undefined) https?.setSecureContext({ ...tls.pem, minVersion: 'TLSv1.2' });
    },
    close: () =>
      new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  };
}
