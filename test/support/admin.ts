/** The admin console of a test server on a free loopback port, and a cookie-keeping HTTP client for it. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkConfig } from '../../src/config/load.js';
import { startAdmin, type RunningAdmin } from '../../src/admin/server.js';
import { reloadServer } from '../../src/app/reload.js';
import type { TestBarge } from './barge.js';
import { RawSmtp } from './raw-client.js';
import { TEST_HOSTNAME } from './barge.js';
import type { Clock } from '../../src/time/clock.js';

/** `clock` is the console's (sessions' idle and absolute lifetimes). */
export async function startConsole(b: TestBarge, clock?: Clock): Promise<RunningAdmin & { readonly configFile: string }> {
  const configFile = join(b.dataDir, 'console.toml');
  const flags = { listen: ['127.0.0.1:0'], dataDir: b.dataDir };
  // As `barge serve` checks an edit: validated in a child process (config/load.ts).
  const check = (text: string): ReturnType<typeof checkConfig> => checkConfig({ text, file: configFile }, flags, TEST_HOSTNAME);
  const admin = await startAdmin(
    { ...b.config, admin: { listen: { host: '127.0.0.1', port: 0 } } },
    {
      server: b.server,
      configFile,
      check,
      reload: () => reloadServer(b.server, async () => check(await readFile(configFile, 'utf8'))),
      ...(clock === undefined ? {} : { clock }),
    },
  );
  return { ...admin, configFile };
}

export interface HttpResult {
  readonly status: number;
  readonly location: string | null;
  readonly body: string;
  readonly headers: Headers;
}

/** Keeps the session cookie and the last page's CSRF token, as a browser would. */
export class ConsoleClient {
  readonly #base: string;
  #cookie = '';
  csrf = '';

  constructor(base: string) {
    this.#base = base;
  }

  async get(path: string): Promise<HttpResult> {
    return this.#take(await fetch(new URL(path, this.#base), { redirect: 'manual', headers: { cookie: this.#cookie } }));
  }

  /** POSTs a form; the CSRF token of the last page is added unless `_csrf` is given. */
  async post(path: string, fields: Readonly<Record<string, string>>): Promise<HttpResult> {
    const body = new URLSearchParams({ _csrf: this.csrf, ...fields });
    return this.#take(
      await fetch(new URL(path, this.#base), {
        method: 'POST',
        redirect: 'manual',
        body,
        headers: { cookie: this.#cookie, 'content-type': 'application/x-www-form-urlencoded' },
      }),
    );
  }

  async #take(r: Response): Promise<HttpResult> {
    const set = r.headers.get('set-cookie');
    if (set !== null) this.#cookie = set.split(';')[0] ?? '';
    const body = await r.text();
    const token = /name="_csrf" value="([^"]+)"/.exec(body)?.[1];
    if (token !== undefined) this.csrf = token;
    return { status: r.status, location: r.headers.get('location'), body, headers: r.headers };
  }
}

export interface SubmitOptions {
  readonly method?: 'BDAT' | 'DATA';
  readonly helo?: string;
  readonly from?: string;
}

/** Submits one message: by BDAT in exactly the given chunks (the default), or by DATA. Returns the queue id. */
export async function submit(port: number, chunks: readonly string[], to: string, options: SubmitOptions = {}): Promise<string> {
  const c = await RawSmtp.connect(port);
  await c.reply();
  await c.command(`EHLO ${options.helo ?? 'client.test'}`);
  assert.equal((await c.command(`MAIL FROM:<${options.from ?? 'alice@sender.test'}>`)).code, 250);
  assert.equal((await c.command(`RCPT TO:<${to}>`)).code, 250);
  let last: Awaited<ReturnType<typeof c.reply>> | undefined;
  if (options.method === 'DATA') {
    await c.command('DATA');
    await c.send(`${chunks.join('')}.\r\n`);
    last = await c.reply();
  } else {
    for (const [i, chunk] of chunks.entries()) {
      // BDAT's chunk follows its command line exactly: no CRLF after it (RFC 3030 2).
      await c.send(`BDAT ${Buffer.byteLength(chunk)}${i === chunks.length - 1 ? ' LAST' : ''}\r\n${chunk}`);
      last = await c.reply();
    }
  }
  c.close();
  assert.equal(last?.code, 250, last?.raw);
  return /queued as ([0-9A-Z]+)/.exec(last?.lines[0] ?? '')?.[1] ?? '';
}
