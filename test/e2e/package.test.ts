/**
 * The package (docs/service.md): `npm pack` gives a tarball with the built server and no tests or
 * sources; installed into an empty prefix it is a working `barge` that delivers a message; its
 * systemd unit passes `systemd-analyze verify` with ExecStart pointing at that installed command.
 * The tarball is packed with --ignore-scripts: the suite already built dist/ (npm pack would run
 * the `prepare` script, which compiles, under the other test files that run from dist/).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../support/barge.js';
import { run } from '../support/peers.js';
import { mailOne, startChild } from '../support/service.js';

const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');

test('the packed tarball installs into an empty prefix, runs and delivers, and its unit verifies', async () => {
  const packDir = await tempDir('barge-pack-');
  const packed = await runIn(ROOT, 'npm', ['pack', '--ignore-scripts', '--pack-destination', packDir]);
  assert.equal(packed.code, 0, packed.stderr);
  const tarball = join(packDir, packed.stdout.trim().split('\n').pop() ?? '');

  const listed = await run('tar', ['-tzf', tarball]);
  const files = listed.stdout
    .trim()
    .split('\n')
    .map((f) => f.replace(/^package\//, ''));
  for (const needed of [
    'bin/barge.js',
    'dist/src/app/main.js',
    'dist/src/config/validate-child.js',
    'packaging/barge.service',
    'packaging/barge.toml',
    'LICENSE',
    'README.md',
    'docs/service.md',
  ]) {
    assert.ok(files.includes(needed), `${needed} is in the package`);
  }
  const own = files.filter((f) => !f.startsWith('node_modules/'));
  const extra = own.filter((f) => /\.test\.js$|\.test-support\.js$|\.map$|\.ts$|^(src|test|bench|scripts)\//.test(f));
  assert.deepEqual(extra, [], 'none of our tests, sources or source maps');
  // The dependencies are bundled as the tests ran them: a fresh resolution could hoist a different
  // (and here, broken) mix of versions, and the install needs no registry.
  const { dependencies, devDependencies } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as Record<
    string,
    Record<string, string>
  >;
  for (const dep of Object.keys(dependencies ?? {})) assert.ok(files.includes(`node_modules/${dep}/package.json`), `${dep} is bundled`);
  for (const dev of Object.keys(devDependencies ?? {}))
    assert.ok(!files.includes(`node_modules/${dev}/package.json`), `${dev} (a dev dependency) is not`);

  const prefix = await tempDir('barge-prefix-');
  const installed = await run(
    'npm',
    ['install', '--global', '--offline', '--prefix', prefix, '--no-audit', '--no-fund', tarball],
    undefined,
    300_000,
  );
  assert.equal(installed.code, 0, installed.stderr);

  // `barge` runs on the `node` it finds first on PATH: the one running this test.
  const barge = join(prefix, 'bin', 'barge');
  const dataDir = await tempDir();
  const env = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}` };
  const server = startChild(
    barge,
    ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--hostname', 'barge.test', '--admin-listen', 'off'],
    env,
  );
  try {
    const [, port] = await server.waitFor(/listening on 127\.0\.0\.1:(\d+)/);
    const { bytes } = await mailOne('127.0.0.1', Number(port), 'alice@barge.test', join(dataDir, 'mail'));
    assert.match(bytes.toString(), /^Return-Path: <sender@client\.test>\r\n/);
  } finally {
    assert.equal(await server.stop(), 0, server.log());
  }

  // The unit as installed, with ExecStart and ExecReload at the command just installed (systemd checks they exist).
  const unitText = await readFile(join(prefix, 'lib', 'node_modules', 'barge', 'packaging', 'barge.service'), 'utf8');
  assert.match(unitText, /^ExecStart=\/usr\/local\/bin\/barge serve --config \/etc\/barge\/barge\.toml$/m);
  const unit = join(await tempDir('barge-unit-'), 'barge.service');
  await writeFile(unit, unitText.replaceAll('/usr/local/bin/barge', barge));
  const verified = await run('systemd-analyze', ['verify', '--man=no', unit]);
  assert.deepEqual(
    { code: verified.code, stderr: verified.stderr },
    { code: 0, stderr: '' },
    'no error and no warning (an unknown key is only a warning)',
  );
});

/** `run` in another directory. */
function runIn(cwd: string, command: string, args: readonly string[]): ReturnType<typeof run> {
  return run('sh', ['-c', `cd "$0" && exec "$@"`, cwd, command, ...args]);
}
