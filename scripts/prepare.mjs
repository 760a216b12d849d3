// Makes a checkout runnable: installs npm dependencies when missing, compiles TypeScript (and removes
// compiled files whose source is gone, so neither a test run nor `npm pack` picks them up), and with
// --test installs what the tests use: the Debian packages of the interoperability, browser and
// service tests (when root and missing), and the other Node.js versions the suite runs on. These
// two lists are the one place that says what the tests install; scripts/test.mjs reads TEST_NODES.
// npm also runs this as the `prepare` script, so `npm pack` and a git install build dist/ first.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

/**
 * [command, Debian package]: Chromium drives the console's browser tests (playwright-core never downloads a browser);
 * pebble is Let's Encrypt's test ACME server; openssl's s_client checks the certificate chosen by name (SNI); HAProxy
 * is the PROXY protocol tests' balancer; systemd-analyze verifies the shipped unit (packaging/barge.service) and
 * systemd-notify sends its readiness.
 */
export const NEEDED = [
  ['exim4', 'exim4-daemon-light'],
  ['swaks', 'swaks'],
  ['python3', 'python3'],
  ['dnsmasq', 'dnsmasq-base'],
  ['haproxy', 'haproxy'],
  ['pebble', 'pebble'],
  ['openssl', 'openssl'],
  ['chromium', 'chromium'],
  ['systemd-analyze', 'systemd'],
];

/**
 * Node.js majors the whole suite runs on besides the machine's own: the LTS lines, from the npm
 * registry's `node-<platform>-<arch>` packages (the binary is inside), kept outside the project.
 */
export const TEST_NODES = ['22', '24'];

// As root, under /var/cache: the service tests run Barge as an unprivileged user, who must be able
// to run the binary (Barge runs it again for short-lived children), and root's home is closed to it.
const NODE_CACHE =
  process.getuid?.() === 0 ? '/var/cache/barge/node' : join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'barge', 'node');

/** The cached binary of a Node.js major, whether or not it is installed yet. */
export function cachedNode(major) {
  return join(NODE_CACHE, major, 'node_modules', `node-${process.platform}-${process.arch}`, 'bin', 'node');
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`${cmd} ${args.join(' ')} failed`);
    process.exit(r.status ?? 1);
  }
};

/** Compiled files (and their maps) under dist/ whose TypeScript source was deleted: tsc never removes them. */
function pruneStale(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) pruneStale(path);
    else if (
      /\.js(\.map)?$/.test(name) &&
      !existsSync(join(root, path.slice(join(root, 'dist').length + 1).replace(/\.js(\.map)?$/, '.ts')))
    )
      rmSync(path);
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
  for (const major of TEST_NODES) {
    if (existsSync(cachedNode(major))) continue;
    const pkg = `node-${process.platform}-${process.arch}@${major}`;
    const r = spawnSync('npm', ['install', '--prefix', join(NODE_CACHE, major), '--no-save', '--no-audit', '--no-fund', pkg], {
      stdio: 'inherit',
    });
    if (r.status !== 0) console.error(`could not install ${pkg}; npm test will fail for Node ${major}`);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) prepare();
