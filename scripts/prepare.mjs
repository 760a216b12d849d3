// Makes a checkout runnable: installs npm dependencies when missing, compiles TypeScript (and removes
// compiled files whose source is gone, so neither a test run nor `npm pack` picks them up), and with
// --test installs the Debian packages the interoperability, browser and service tests use (when root
// and missing): the one list of what the tests install. npm also runs this as the `prepare` script,
// so `npm pack` and a git install build dist/ first.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

/** [command, Debian package]: Chromium drives the console's browser tests (playwright-core never downloads a browser). */
export const NEEDED = [
  ['exim4', 'exim4-daemon-light'], ['swaks', 'swaks'], ['python3', 'python3'], ['dnsmasq', 'dnsmasq-base'], ['chromium', 'chromium'],
  // systemd-analyze verifies the shipped unit (packaging/barge.service); systemd-notify sends its readiness.
  ['systemd-analyze', 'systemd'],
];

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) { console.error(`${cmd} ${args.join(' ')} failed`); process.exit(r.status ?? 1); }
};

/** Compiled files (and their maps) under dist/ whose TypeScript source was deleted: tsc never removes them. */
function pruneStale(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) pruneStale(path);
    else if (/\.js(\.map)?$/.test(name) && !existsSync(join(root, path.slice(join(root, 'dist').length + 1).replace(/\.js(\.map)?$/, '.ts')))) rmSync(path);
  }
}

function prepare() {
  if (!existsSync(join(root, 'node_modules', 'typescript'))) run('npm', ['ci', '--no-audit', '--no-fund']);
  run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json']);
  for (const dir of ['src', 'test', 'bench']) if (existsSync(join(root, 'dist', dir))) pruneStale(join(root, 'dist', dir));
  if (!process.argv.includes('--test')) return;

  const has = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0 || existsSync(`/usr/sbin/${bin}`);
  const missing = NEEDED.filter(([bin]) => !has(bin)).map(([, pkg]) => pkg);
  if (missing.length > 0) {
    if (process.getuid?.() === 0) {
      const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
      spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
      const r = spawnSync('apt-get', ['install', '-y', '-qq', ...missing], { stdio: 'inherit', env });
      if (r.status !== 0) console.error(`could not install ${missing.join(' ')}; the interoperability tests will fail`);
    } else {
      console.error(`missing Debian packages for the interoperability tests: ${missing.join(' ')} (install them as root)`);
    }
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) prepare();
