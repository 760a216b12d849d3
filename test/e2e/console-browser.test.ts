/**
 * The web console in a real browser: Debian's Chromium driven by playwright-core against a
 * `barge serve` child process. Flows: log in with the setup link; find a BDAT message and its chunk
 * count in tracking; relay through `barge middlebox --mode drop-bdat` and see the fallback and the
 * quirk, then clear it; a hostile envelope renders as text; turn CHUNKING and BINARYMIME off and see
 * 7697601 become 4551873 and a fresh EHLO lose CHUNKING. With BARGE_SCREENSHOTS=1 (npm run
 * screenshots) the main pages are saved as docs/console-*.png.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { RawSmtp } from '../support/raw-client.js';
import { submit, type SubmitOptions } from '../support/admin.js';
import { eventually, startBarge, tempDir, type TestBarge } from '../support/barge.js';
import { exited, spawnBarge, type ChildBarge } from '../support/crash.js';

const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
const BIN = join(ROOT, 'bin', 'barge.js');
const CHROMIUM = '/usr/bin/chromium';
const SHOTS = process.env.BARGE_SCREENSHOTS === '1' ? join(ROOT, 'docs') : undefined;
const FLAGS = [
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-sandbox',
];

let context: BrowserContext;
let page: Page;
let receiver: TestBarge;
let middlebox: ChildProcess;
let middleboxPort: number;
let barge: ChildBarge;
let consoleUrl: string;
let setupUrl: string;
let configFile: string;
const alerts: string[] = [];

function startMiddlebox(upstream: number): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [BIN, 'middlebox', '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${upstream}`, '--mode', 'drop-bdat'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let text = '';
    child.stdout?.on('data', (d: Buffer) => {
      text += d.toString();
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(text);
      if (m !== null) resolve({ child, port: Number(m[1]) });
    });
    child.once('exit', (code) => reject(new Error(`middlebox exited ${String(code)}: ${text}`)));
  });
}

const send = (chunks: readonly string[], to: string, options: SubmitOptions = {}): Promise<string> =>
  submit(barge.port, chunks, to, options);

async function shot(name: string): Promise<void> {
  if (SHOTS === undefined) return;
  await mkdir(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `console-${name}.png`), fullPage: false });
}

/** Reloads `path` until `text` shows on the page. */
async function until(path: string, text: string, ms = 20_000): Promise<void> {
  await eventually(
    async () => {
      await page.goto(new URL(path, consoleUrl).href);
      return (await page.content()).includes(text) ? true : undefined;
    },
    ms,
    `"${text}" on ${path}`,
  );
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium package (scripts/prepare.mjs --test does as root)`);
  receiver = await startBarge('[listener.smtp]\ntls = "off"', { localDomain: ['remote.test'], hostname: 'receiver.test' });
  const box = await startMiddlebox(receiver.port);
  middlebox = box.child;
  middleboxPort = box.port;
  const dir = await tempDir();
  configFile = join(dir, 'barge.toml');
  await writeFile(
    configFile,
    [
      '# Settings of the console test: the console keeps this comment when it writes the file.',
      '[log]',
      'w3c_fields = ["time", "c-ip", "cs-username", "cs-method", "cs-uri-query", "sc-status", "time-taken"]',
      '[routes]',
      `"remote.test" = "127.0.0.1:${middleboxPort}"`,
      '"unreachable.test" = "127.0.0.1:1"',
      '',
    ].join('\n'),
  );
  barge = await spawnBarge(dir, ['--config', configFile, '--admin-listen', '127.0.0.1:0']);
  const log = await eventually(
    async () => (/log in once with (\S+)/.test(barge.log()) ? barge.log() : undefined),
    10_000,
    'the setup link',
  );
  consoleUrl = /console and \/metrics at (\S+)/.exec(log)?.[1] ?? '';
  setupUrl = /log in once with (\S+)/.exec(log)?.[1] ?? '';
  context = await chromium.launchPersistentContext(await tempDir('barge-chromium-'), {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1280, height: 820 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('dialog', (d) => {
    if (d.type() === 'alert') alerts.push(d.message());
    void d.accept();
  });
});

after(async () => {
  await context?.close();
  barge?.child.kill('SIGTERM');
  middlebox?.kill('SIGTERM');
  await Promise.all([barge === undefined ? undefined : exited(barge.child), middlebox === undefined ? undefined : exited(middlebox)]);
  await receiver?.stop();
});

test('the setup link printed at start leads in; an administrator added there can log in', async () => {
  assert.match(consoleUrl, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  await page.goto(consoleUrl);
  assert.equal(await page.locator('h1').textContent(), 'Barge on barge.test');
  await page.goto(setupUrl);
  await page.getByText('add an administrator now').waitFor();
  await page.fill('form[action="/users/add"] input[name=name]', 'postmaster@barge.test');
  await page.fill('form[action="/users/add"] input[name=password]', 'a long console password');
  await page.click('form[action="/users/add"] button');
  // The first administrator ends the setup session: the login form follows.
  await page.getByText('The administrator was added: log in as that user.').waitFor();
  await page.fill('input[name=user]', 'postmaster@barge.test');
  await page.fill('input[name=password]', 'a long console password');
  await page.click('form[action="/login"] button');
  await page.waitForURL(consoleUrl);
  assert.equal(await page.locator('h1').textContent(), 'Overview');
  // The setup link was for one use only.
  await page.goto(setupUrl);
  await page.getByText('used already').waitFor();
  await page.goto(consoleUrl);
});

test('a message sent by BDAT in three chunks is found by its Message-ID in tracking, with its chunk count', async () => {
  const id = await send(
    ['Subject: chunked\r\nMessage-ID: <chunked-1@sender.test>\r\n\r\n', 'part two\r\n', 'part three\r\n'],
    'bob@localhost',
  );
  await page.goto(new URL('/tracking', consoleUrl).href);
  await page.fill('input[name=messageId]', 'chunked-1@sender.test');
  await page.click('form.filters button');
  await page.click(`a[href="/tracking/${id}"]`);
  await page.getByText('in 3 chunks').waitFor();
  assert.match(await page.locator('main table').innerText(), /by BDAT in 3 chunks/);
  await until(`/tracking/${id}`, 'Left the queue');
});

test('relayed through barge middlebox --mode drop-bdat: the fallback in the story, the quirk and a probe on Destinations, cleared', async () => {
  const id = await send(['Subject: through the firewall\r\n\r\nhello\r\n'], 'carol@remote.test');
  // At default settings the black hole costs the 30 s BDAT check once, then DATA goes at once.
  await until(`/tracking/${id}`, 'DATA instead of BDAT', 60_000);
  const story = await page.locator('main table').innerText();
  assert.match(story, /delivered\s+carol@remote\.test via smtp by DATA/);
  assert.match(story, /fallback\s+DATA instead of BDAT/);
  await shot('tracking');
  await page.goto(new URL('/destinations', consoleUrl).href);
  const row = page.locator('tr', { hasText: 'no-bdat' });
  assert.match(await row.innerText(), new RegExp(`127\\.0\\.0\\.1:${middleboxPort}\\s+no-bdat\\s+.*BDAT is dropped`));
  // The probe, run from the page, finds the black hole (its BDAT step waits out the timeout).
  await page.fill('input[name=target]', `127.0.0.1:${middleboxPort}`);
  await page.fill('input[name=timeout]', '3');
  await page.click('form[action="/destinations/probe"] button');
  const verdict = page.locator('h2', { hasText: 'Probe of' });
  await verdict.waitFor({ timeout: 60_000 });
  assert.match(await verdict.innerText(), /bdat-dropped/);
  assert.match(await page.locator('table', { hasText: 'Step' }).innerText(), /BDAT/);
  await shot('destinations');
  await row.getByRole('button', { name: 'Clear' }).click();
  await page.getByText(`Cleared 1 quirk for 127.0.0.1:${middleboxPort}`).waitFor();
  assert.equal(await page.locator('tr', { hasText: 'no-bdat' }).count(), 0);
  await page.getByText('No quirks').waitFor();
});

test('a hostile envelope renders as text and runs nothing', async () => {
  const id = await send(['Subject: <script>alert(3)</script>\r\n\r\nhi\r\n'], 'x@unreachable.test', {
    helo: '<script>alert(1)</script>',
    from: '"<script>alert(2)</script>"@evil.test',
  });
  for (const path of [`/tracking/${id}`, `/queue/${id}`, '/log']) {
    await page.goto(new URL(path, consoleUrl).href);
    assert.match(await page.locator('main').innerText(), /<script>alert\([12]\)<\/script>/, path);
    // The console's own script is the only one on the page.
    assert.equal(await page.locator('script').count(), 1, path);
  }
  assert.deepEqual(alerts, []);
});

test('turning CHUNKING and BINARYMIME off shows 7697601 becoming 4551873; after Apply a fresh EHLO has no CHUNKING', async () => {
  for (let i = 0; i < 3; i++)
    await send([`Subject: waiting ${i}\r\n\r\nhi\r\n`], `user${i}@unreachable.test`, { method: i === 1 ? 'DATA' : 'BDAT' });
  await until('/queue', 'user2@unreachable.test');
  await shot('queue');
  await page.goto(new URL('/listeners', consoleUrl).href);
  const form = page.locator('form[data-listener="smtp"]');
  assert.equal(await form.locator('[data-inbound]').textContent(), '7697601');
  assert.match((await form.locator('[data-ehlo]').textContent()) ?? '', /CHUNKING/);
  await form.locator('input[value=CHUNKING]').uncheck();
  await form.locator('input[value=BINARYMIME]').uncheck();
  await form.locator('[data-inbound]', { hasText: '4551873' }).waitFor();
  assert.doesNotMatch((await form.locator('[data-ehlo]').textContent()) ?? '', /CHUNKING|BINARYMIME/);
  await shot('listeners');
  await form.getByRole('button', { name: 'Apply and reload' }).click();
  await page.getByText('Applied to smtp: inbound 4551873, outbound 7').waitFor();
  const c = await RawSmtp.connect(barge.port);
  await c.reply();
  const ehlo = (await c.command('EHLO fresh.test')).raw;
  c.close();
  assert.doesNotMatch(ehlo, /CHUNKING/);
  assert.match(ehlo, /8BITMIME/);
  const written = await readFile(configFile, 'utf8');
  assert.match(written, /^# Settings of the console test/);
  assert.match(written, /\[listener\.smtp\]\ninbound_command_support = 4551873/);
  await page.goto(new URL('/log', consoleUrl).href);
  await shot('log');
  await page.goto(new URL('/users', consoleUrl).href);
  await shot('users');
  await page.goto(consoleUrl);
  await shot('overview');
});
