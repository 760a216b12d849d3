// Makes a checkout runnable: installs npm dependencies when missing, compiles TypeScript,
// and with --test installs the Debian packages the interoperability and browser tests use (when root and missing).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`${cmd} ${args.join(' ')} failed`);
    process.exit(r.status ?? 1);
  }
};

if (!existsSync(join(root, 'node_modules', 'typescript'))) run('npm', ['ci', '--no-audit', '--no-fund']);
run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json']);

if (process.argv.includes('--test')) {
  // Chromium drives the console's browser tests (playwright-core never downloads a browser); pebble is Let's Encrypt's test
  // ACME server; openssl's s_client checks the certificate chosen by name (SNI); HAProxy is the PROXY protocol tests' balancer.
  const needed = [
    ['exim4', 'exim4-daemon-light'],
    ['swaks', 'swaks'],
    ['python3', 'python3'],
    ['dnsmasq', 'dnsmasq-base'],
    ['haproxy', 'haproxy'],
    ['pebble', 'pebble'],
    ['openssl', 'openssl'],
    ['chromium', 'chromium'],
  ];
  const has = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0 || existsSync(`/usr/sbin/${bin}`);
  const missing = needed.filter(([bin]) => !has(bin)).map(([, pkg]) => pkg);
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
