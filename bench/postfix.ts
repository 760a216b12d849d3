/**
 * Postfix as a reference server: it receives on a loopback port, writes and fsyncs every message
 * into its queue as it always does, and delivers nothing (every message goes to the hold queue).
 * Debian's postfix package conflicts with exim4 (both are the system MTA), so where Postfix is not
 * installed the bench fetches the package and runs it from an extracted tree with a private
 * configuration, queue and log under a temporary directory.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort, type ServerUnderTest } from './servers.js';

/** The account Postfix's daemons run as, and the group its set-gid commands use (Postfix refuses root for both). */
const OWNER = 'barge-bench-postfix';
const SGID_GROUP = 'barge-bench-postdrop';
const INSTALLED = '/usr/sbin/postfix';
/** Where the fetched package is extracted and kept between runs. */
const CACHE = process.env.BARGE_BENCH_POSTFIX_CACHE ?? join(tmpdir(), 'barge-bench-postfix');

interface Ran {
  readonly ok: boolean;
  readonly out: string;
}

function run(cmd: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(cmd, args, { ...options, maxBuffer: 16 * 2 ** 20 }, (error, stdout, stderr) =>
      resolve({ ok: error === null, out: `${stdout}${stderr}`.trim() }),
    );
  });
}

const lastLines = (text: string, n = 3): string =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .slice(-n)
    .join(' / ');

/** The cache holds programs root runs: it must be root's own directory, not writable by anyone else. */
async function ownCacheDir(): Promise<string | undefined> {
  await mkdir(CACHE, { recursive: true, mode: 0o755 });
  const st = await lstat(CACHE);
  if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0)
    return `${CACHE} is not a directory owned by root and writable only by it`;
  return undefined;
}

/** The root of a Postfix tree: `/` when installed, else the extracted package (fetched once). */
async function postfixTree(): Promise<string> {
  if (existsSync(INSTALLED)) return '/';
  const refused = await ownCacheDir();
  if (refused !== undefined) throw new Error(refused);
  const tree = join(CACHE, 'tree');
  if (existsSync(join(tree, 'usr', 'sbin', 'postfix'))) return tree;
  // Each run downloads and extracts in a directory of its own, so benches started together do not collide.
  const work = await mkdtemp(join(CACHE, 'fetch-'));
  try {
    let got = await run('apt-get', ['download', 'postfix'], { cwd: work });
    // Fresh machines may lack the package lists: read them once and try again.
    if (!got.ok && (await run('apt-get', ['update'])).ok) got = await run('apt-get', ['download', 'postfix'], { cwd: work });
    const deb = (await readdir(work)).find((f) => /^postfix_.*\.deb$/.test(f));
    if (!got.ok || deb === undefined) throw new Error(`apt-get download postfix failed: ${lastLines(got.out)}`);
    const x = await run('dpkg-deb', ['-x', join(work, deb), join(work, 'tree')]);
    if (!x.ok) throw new Error(`dpkg-deb -x failed: ${lastLines(x.out)}`);
    // Another run may have put its tree in place meanwhile; either is fine.
    await rename(join(work, 'tree'), tree).catch(() => undefined);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  if (!existsSync(join(tree, 'usr', 'sbin', 'postfix'))) throw new Error(`no Postfix tree in ${tree}`);
  return tree;
}

/** Creates the system groups and account once; later runs (or one started at the same time) find them. */
async function ensureAccounts(): Promise<void> {
  for (const group of [OWNER, SGID_GROUP]) {
    if ((await run('getent', ['group', group])).ok) continue;
    const r = await run('groupadd', ['--system', group]);
    if (!r.ok && !(await run('getent', ['group', group])).ok) throw new Error(`groupadd ${group}: ${lastLines(r.out)}`);
  }
  if ((await run('getent', ['passwd', OWNER])).ok) return;
  const r = await run('useradd', [
    '--system',
    '--gid',
    OWNER,
    '--home-dir',
    '/nonexistent',
    '--no-create-home',
    '--shell',
    '/usr/sbin/nologin',
    OWNER,
  ]);
  if (!r.ok && !(await run('getent', ['passwd', OWNER])).ok) throw new Error(`useradd ${OWNER}: ${lastLines(r.out)}`);
}

function mainCf(tree: string, dir: string, lib: string): string {
  const at = (p: string): string => join(tree, p);
  return [
    'compatibility_level = 3.6',
    `queue_directory = ${dir}/queue`,
    `data_directory = ${dir}/data`,
    `maillog_file = ${dir}/log/maillog`,
    `maillog_file_prefixes = ${dir}/log`,
    `daemon_directory = ${at('usr/lib/postfix/sbin')}`,
    `command_directory = ${at('usr/sbin')}`,
    `meta_directory = ${at('etc/postfix')}`,
    `shlib_directory = ${lib}`,
    // The daemons link libpostfix-*.so, found at run time through LD_LIBRARY_PATH (Debian's RUNPATH is /usr/lib/postfix).
    `import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C LD_LIBRARY_PATH=${lib}`,
    'export_environment = TZ MAIL_CONFIG LANG LD_LIBRARY_PATH',
    `mail_owner = ${OWNER}`,
    `setgid_group = ${SGID_GROUP}`,
    'myhostname = postfix.bench',
    'mydomain = bench',
    'mydestination =',
    'alias_maps =',
    'alias_database =',
    'local_recipient_maps =',
    'inet_interfaces = 127.0.0.1',
    'inet_protocols = ipv4',
    'mynetworks = 127.0.0.0/8',
    'message_size_limit = 209715200',
    // Postfix insists on a relay restriction that can reject; mynetworks covers every client here.
    'smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination',
    // Every message is accepted, written and fsynced as usual, then placed on hold: nothing is delivered.
    'smtpd_recipient_restrictions = check_client_access static:HOLD, permit',
    'smtpd_peername_lookup = no',
    'smtp_dns_support_level = disabled',
    'smtp_host_lookup = native',
    'biff = no',
    '',
  ].join('\n');
}

function masterCf(port: number): string {
  const service = (name: string, type: string, priv: string, wakeup: string, limit: string, command: string): string =>
    `${name} ${type} ${priv} - n ${wakeup} ${limit} ${command}`;
  return [
    service(`127.0.0.1:${port}`, 'inet', 'n', '-', '-', 'smtpd'),
    service('pickup', 'unix', 'n', '60', '1', 'pickup'),
    service('cleanup', 'unix', 'n', '-', '0', 'cleanup'),
    service('qmgr', 'unix', 'n', '300', '1', 'qmgr'),
    service('rewrite', 'unix', '-', '-', '-', 'trivial-rewrite'),
    ...['bounce', 'defer', 'trace'].map((n) => service(n, 'unix', '-', '-', '0', 'bounce')),
    service('verify', 'unix', '-', '-', '1', 'verify'),
    service('proxymap', 'unix', '-', '-', '-', 'proxymap'),
    service('showq', 'unix', 'n', '-', '-', 'showq'),
    service('error', 'unix', '-', '-', '-', 'error'),
    service('retry', 'unix', '-', '-', '-', 'error'),
    service('discard', 'unix', '-', '-', '-', 'discard'),
    service('anvil', 'unix', '-', '-', '1', 'anvil'),
    service('scache', 'unix', '-', '-', '1', 'scache'),
    service('postlog', 'unix-dgram', 'n', '-', '1', 'postlogd'),
    '',
  ].join('\n');
}

interface Proc {
  readonly pgrp: number;
  readonly state: string;
  /** utime + stime + cutime + cstime in seconds (reaped children included). */
  readonly cpu: number;
}

/** Every process from /proc/PID/stat; fields are counted after the command name (stat(5) fields 3, 5, 14-17). */
async function processes(): Promise<Proc[]> {
  const out: Proc[] = [];
  for (const name of await readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (f.length >= 15)
      out.push({ state: f[0] ?? '', pgrp: Number(f[2]), cpu: [11, 12, 13, 14].reduce((n, i) => n + Number(f[i] ?? 0), 0) / 100 });
  }
  return out;
}

/** CPU seconds of a process group: the master, its live workers, and (in its cutime) those it reaped. */
export async function groupCpuSeconds(pgrp: number): Promise<number> {
  return (await processes()).reduce((n, p) => n + (p.pgrp === pgrp ? p.cpu : 0), 0);
}

/** Whether a process group still has a running member (zombies wait for init to reap them, and hold nothing). */
async function groupAlive(pgrp: number): Promise<boolean> {
  return pgrp > 0 && (await processes()).some((p) => p.pgrp === pgrp && p.state !== 'Z');
}

/** Postfix receiving only: every message lands in its hold queue, fsynced, and nothing is delivered. */
export async function startPostfix(): Promise<ServerUnderTest | string> {
  if (process.getuid?.() !== 0) return 'Postfix needs root (its daemons switch to an unprivileged account)';
  let tree: string;
  try {
    tree = await postfixTree();
    await ensureAccounts();
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  const dir = await mkdtemp(join(tmpdir(), 'barge-bench-postfix-run-'));
  const port = await freePort();
  await chmod(dir, 0o755);
  await Promise.all(['conf', 'queue', 'log'].map((d) => mkdir(join(dir, d))));
  const lib = join(tree, 'usr/lib/postfix');
  await writeFile(join(dir, 'conf', 'main.cf'), mainCf(tree, dir, lib));
  await writeFile(join(dir, 'conf', 'master.cf'), masterCf(port));
  const env = { ...process.env, LD_LIBRARY_PATH: lib };
  const maillog = async (): Promise<string> => lastLines(await readFile(join(dir, 'log', 'maillog'), 'utf8').catch(() => 'no log'));
  const cleanup = (): Promise<void> => rm(dir, { recursive: true, force: true, maxRetries: 5 });
  // `postfix check` creates the queue's directories with their owners and modes.
  const check = await run(join(tree, 'usr/sbin/postfix'), ['-c', join(dir, 'conf'), 'check'], { env });
  if (!check.ok) {
    const why = `postfix check failed: ${lastLines(check.out) || (await maillog())}`;
    await cleanup();
    return why;
  }
  // The master in the foreground, in a process group of its own: on SIGTERM it ends the whole group.
  const master = spawn(join(tree, 'usr/lib/postfix/sbin/master'), ['-c', join(dir, 'conf'), '-d'], {
    env,
    detached: true,
    stdio: 'ignore',
  });
  const exited = new Promise((r) => master.once('exit', r));
  master.on('error', () => undefined); // a failed start shows as the port never opening
  const pid = master.pid ?? 0;
  const stop = async (): Promise<void> => {
    if (pid > 0 && master.exitCode === null && master.signalCode === null) {
      master.kill('SIGTERM');
      await exited;
    }
    // The master ends its workers; give them two seconds, then end what is left of the group.
    for (let i = 0; i < 40 && (await groupAlive(pid)); i++) await new Promise((r) => setTimeout(r, 50));
    if (await groupAlive(pid)) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // It ended meanwhile.
      }
    }
    await cleanup();
  };
  if (!(await waitForPort(port))) {
    const why = `Postfix did not start: ${await maillog()}`;
    await stop();
    return why;
  }
  return { name: 'Postfix', port, pid, cpuSeconds: () => groupCpuSeconds(pid), stop };
}
