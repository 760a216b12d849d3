/**
 * The admin listener: the web console, `/metrics` (Prometheus text format) and `/healthz`/`/readyz`.
 * Loopback by default; HTTPS with the SMTP certificate when it listens anywhere else. Every request
 * passes the listener's guards first (guards.ts: Host, body size, connections, timeouts). Every page
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
import { TlsCredentials } from '../server/tls.js';
import { realClock } from '../time/clock.js';
import { CONSOLE_WHAT, listenOn } from '../server/listen.js';
import { AdminAuth, sameSecret } from './auth.js';
import { bodyLimits, boundSockets, consoleHeaders, hostCheck, SERVER_OPTIONS, CONSOLE_LIMITS } from './guards.js';
import { CSS, SCRIPT } from './assets.js';
import { loginPage, page } from './layout.js';
import { registerPages } from './routes.js';
import type { AdminDeps, AdminEnv, AdminRequest } from './page-kit.js';

export type { AdminDeps } from './page-kit.js';

export interface RunningAdmin {
  readonly url: string;
  /** A one-time login link while no admin user exists. */
  readonly setupUrl: string | undefined;
  /** Takes the SMTP certificate again after a reload (HTTPS only). */
  refreshTls(): void;
  close(): Promise<void>;
}

const COOKIE = 'barge_session';
/** After the setup session added the first administrator (and so ended). */
const ADDED = 'The administrator was added: log in as that user.';

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

export async function startAdmin(config: Config, deps: AdminDeps): Promise<RunningAdmin> {
  const admin = config.admin;
  if (admin === undefined) throw new Error('the admin console is turned off');
  const clock = deps.clock ?? realClock;
  const auth = new AdminAuth({ dataDir: config.dataDir, clock, guard: deps.server.logins });
  const secure = !isLoopback(admin.listen.host);
  const app = new Hono<AdminEnv>();
  // The Host check covers /healthz and /metrics too: a scraper asks by the listen address.
  app.use('*', hostCheck({ listenHost: admin.listen.host, hostname: config.hostname, secure }), ...consoleHeaders, bodyLimits);
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
  app.get('/login', async (c) =>
    c.html(await loginPage(config.hostname, c.req.query('added') === undefined ? undefined : { notice: ADDED })),
  );
  app.post('/login', async (c) => {
    const body = await c.req.parseBody();
    const result = await auth.login(clientIp(c), String(body.user ?? ''), String(body.password ?? ''));
    if ('session' in result) return startSession(c, result.session);
    if (result.refused === 'limited')
      return c.html(await loginPage(config.hostname, { error: 'Too many failed logins from your address; try again later.' }), 429);
    return c.html(await loginPage(config.hostname, { error: 'Wrong user or password, or not an administrator.' }), 401);
  });
  app.get('/setup', async (c) => {
    const id = await auth.useSetup(c.req.query('token') ?? '');
    if (id === undefined)
      return c.html(await loginPage(config.hostname, { error: 'This setup link was used already or has expired.' }), 403);
    setCookie(c, COOKIE, id, { httpOnly: true, sameSite: 'Strict', path: '/', secure });
    return c.redirect('/users?setup=1', 303);
  });

  // Everything below needs a session; every POST also its CSRF token.
  app.use('*', async (c, next) => {
    const session = await auth.session(getCookie(c, COOKIE));
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
        c.html(
          await page(
            {
              hostname: config.hostname,
              user: session.user,
              csrf: session.csrf,
              path: new URL(c.req.url).pathname,
              ...(flash === undefined ? {} : { flash }),
            },
            title,
            body,
          ),
        ),
    };
  };
  registerPages(app, request, { ...deps, clock, auth });

  const tls = secure ? (deps.server.tls ?? (await TlsCredentials.open(config, clock))) : undefined;
  const tlsOptions =
    tls === undefined ? undefined : { ...tls.pem, minVersion: 'TLSv1.2' as const, handshakeTimeout: CONSOLE_LIMITS.handshakeTimeoutMs };
  const https = tlsOptions === undefined ? undefined : createHttps({ ...SERVER_OPTIONS, ...tlsOptions });
  const http: Server = https ?? createHttp(SERVER_OPTIONS);
  http.on('request', boundSockets(http, getRequestListener(app.fetch)));
  await listenOn(http, admin.listen.host, admin.listen.port, CONSOLE_WHAT, deps.prebound);
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
