/**
 * A server whose mail needs none of them never loads the large optional libraries: mailauth (only for
 * checks of outside mail and MTA-STS), selfsigned (its certificate is made by a child process),
 * mailsplit (downconversion), the console's prom-client and acme-client (which only the ACME order's
 * child process loads). This keeps its resident set small.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../support/barge.js';
import { RawSmtp } from '../support/raw-client.js';

const BIN = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..', 'bin', 'barge.js');
/** Packages (all CommonJS, so they appear in require.cache once loaded) a plain receiving server must not load. */
const OPTIONAL = ['mailauth', 'selfsigned', '@zone-eu/mailsplit', 'prom-client', 'acme-client'];

test('with the console off, a server receiving trusted mail over STARTTLS never loads mailauth, selfsigned, mailsplit or prom-client', async () => {
  const dir = await tempDir();
  // Loaded before Barge: on SIGUSR2 it reports the CommonJS modules loaded so far.
  const reporter = join(dir, 'report-modules.cjs');
  await writeFile(
    reporter,
    "process.on('SIGUSR2', () => process.stderr.write('loaded ' + JSON.stringify(Object.keys(require.cache)) + '\\n'));\n",
  );
  const child = spawn(
    process.execPath,
    [
      '--require',
      reporter,
      BIN,
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--data-dir',
      join(dir, 'data'),
      '--hostname',
      'lean.test',
      '--admin-listen',
      'off',
    ],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const waitFor = async (pattern: RegExp): Promise<RegExpExecArray> => {
    for (let i = 0; i < 600; i++) {
      const m = pattern.exec(stderr);
      if (m !== null) return m;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no ${String(pattern)} in: ${stderr}`);
  };
  try {
    const port = Number((await waitFor(/listening on 127\.0\.0\.1:(\d+)/))[1]);
    const c = await RawSmtp.connect(port);
    assert.equal((await c.reply()).code, 220);
    assert.equal((await c.command('EHLO client.test')).code, 250);
    assert.equal((await c.command('STARTTLS')).code, 220);
    await c.startTls();
    assert.equal((await c.command('EHLO client.test')).code, 250);
    assert.equal((await c.command('MAIL FROM:<a@client.test>')).code, 250);
    assert.equal((await c.command('RCPT TO:<postmaster@lean.test>')).code, 250);
    assert.equal((await c.command('DATA')).code, 354);
    assert.equal((await c.command('From: a@client.test\r\nSubject: lean\r\n\r\nhello\r\n.')).code, 250);
    await c.command('QUIT');
    child.kill('SIGUSR2');
    const loaded = JSON.parse((await waitFor(/^loaded (.*)$/m))[1] ?? '[]') as string[];
    assert.ok(
      loaded.some((p) => p.endsWith('report-modules.cjs')),
      'the report lists the modules loaded',
    );
    for (const name of OPTIONAL)
      assert.deepEqual(
        loaded.filter((p) => p.includes(`/node_modules/${name}/`)),
        [],
        `${name} is not loaded`,
      );
  } finally {
    child.kill('SIGTERM');
  }
});
