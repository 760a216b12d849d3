/** The servers under test, each a separate process: Barge, smtp-server (sink) and Exim (when present); Postfix is in postfix.ts. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from 'node:net';

const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..');

export interface ServerUnderTest {
  readonly name: string;
  /** Barge's data directory (its queue is `spool/queue` under it). */
  readonly dataDir?: string;
  readonly port: number;
  readonly pid: number;
  /** The recipient the load goes to (a local one where the row measures Maildir delivery too). */
  readonly rcpt?: string;
  /** CPU seconds used so far, where `cpuSeconds(pid)` would miss long-lived worker processes. */
  cpuSeconds?(): Promise<number>;
  stop(): Promise<void>;
}

/** CPU seconds (user + system, reaped children included) a process has used: /proc/PID/stat. */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14-17 of stat(5) (utime, stime, cutime, cstime), counted after the command name.
  return [11, 12, 13, 14].reduce((n, i) => n + Number(fields[i] ?? 0), 0) / 100;
}

/**
 * Waits until none of the processes uses more than `share` of a core over `windowMs` (a server may
 * still be delivering what an earlier row queued), for at most `limitMs`.
 */
export async function settle(pids: readonly number[], share = 0.05, windowMs = 500, limitMs = 120_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    const before = await Promise.all(pids.map(cpuSeconds));
    await new Promise((r) => setTimeout(r, windowMs));
    const after = await Promise.all(pids.map(cpuSeconds));
    if (after.every((a, i) => a - (before[i] ?? 0) <= (share * windowMs) / 1000)) return;
  }
}

function waitForLine(child: ChildProcess, stream: 'stdout' | 'stderr', pattern: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let text = '';
    child[stream]?.on('data', (d: Buffer) => {
      text += d.toString();
      const m = pattern.exec(text);
      if (m !== null) resolve(m);
    });
    child.once('exit', (code) => reject(new Error(`exited ${String(code)}: ${text}`)));
  });
}

function stopper(child: ChildProcess, after?: () => Promise<void>): () => Promise<void> {
  return async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    }
    await after?.();
  };
}

/** The node flags the `barge` command's shebang and `npm start` pass (bin/barge.js says why). */
export const BARGE_NODE_FLAGS = ['--max-semi-space-size=4', '--no-concurrent-recompilation'];

/**
 * Barge receiving only (--queue-only) unless `extra` arguments say otherwise; `configText`, when
 * given, is its configuration file (kept in its data directory, removed with it).
 */
export async function startBarge(
  extra: readonly string[] = ['--queue-only'],
  name = 'Barge',
  root = ROOT,
  rcpt?: string,
  configText?: string,
): Promise<ServerUnderTest> {
  const dir = await mkdtemp(join(tmpdir(), 'barge-bench-'));
  const config = join(dir, 'bench.toml');
  if (configText !== undefined) await writeFile(config, configText);
  const child = spawn(
    process.execPath,
    [
      ...BARGE_NODE_FLAGS,
      join(root, 'bin', 'barge.js'),
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--data-dir',
      dir,
      '--hostname',
      'bench.test',
      '--max-message-size',
      '200MB',
      '--admin-listen',
      'off',
      ...(configText === undefined ? [] : ['--config', config]),
      ...extra,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const m = await waitForLine(child, 'stderr', /listening on 127\.0\.0\.1:(\d+)/);
  const stop = stopper(child, () => rm(dir, { recursive: true, force: true }));
  return { name, dataDir: dir, port: Number(m[1]), pid: child.pid ?? 0, ...(rcpt === undefined ? {} : { rcpt }), stop };
}

export async function startSmtpServer(): Promise<ServerUnderTest> {
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'bench', 'sink-smtp-server.js')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const m = await waitForLine(child, 'stdout', /listening on (\d+)/);
  return { name: 'smtp-server', port: Number(m[1]), pid: child.pid ?? 0, stop: stopper(child) };
}

const EXIM = ['/usr/sbin/exim4', '/usr/sbin/exim'].find((p) => existsSync(p));

/** Exim as a receiving MTA that queues everything (queue_only): it spools like Barge and delivers nothing. */
export async function startExim(): Promise<ServerUnderTest | string> {
  if (EXIM === undefined) return 'Exim is not installed';
  if (process.getuid?.() !== 0) return 'Exim needs root for a private configuration';
  const dir = await mkdtemp(join(tmpdir(), 'barge-bench-exim-'));
  const port = await freePort();
  await chmod(dir, 0o755);
  await mkdir(join(dir, 'spool'), { mode: 0o777 });
  await mkdir(join(dir, 'log'));
  const config = join(dir, 'exim.conf');
  await writeFile(
    config,
    [
      'keep_environment =',
      'primary_hostname = exim.bench',
      `spool_directory = ${dir}/spool`,
      `log_file_path = ${dir}/log/%slog`,
      'exim_user = root',
      'exim_group = root',
      'never_users =',
      'trusted_users = root',
      'queue_only = true',
      'message_size_limit = 200M',
      'smtp_accept_max = 200',
      'smtp_accept_max_per_connection = 0',
      'smtp_accept_queue_per_connection = 0',
      'acl_smtp_rcpt = accept_all',
      `pid_file_path = ${join(dir, 'exim.pid')}`,
      'begin acl',
      'accept_all:',
      '  accept',
      'begin routers',
      'discard:',
      '  driver = redirect',
      '  data = :blackhole:',
      '',
    ].join('\n'),
  );
  const child = spawn(EXIM, ['-C', config, '-bdf', `-oX`, `${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (!(await waitForPort(port))) {
    child.kill('SIGKILL');
    return `Exim did not start: ${await readFile(join(dir, 'log', 'paniclog'), 'utf8').catch(() => 'no log')}`;
  }
  return { name: 'Exim', port, pid: child.pid ?? 0, stop: stopper(child, () => rm(dir, { recursive: true, force: true })) };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/** Whether a server starts listening on the port within about five seconds. */
export async function waitForPort(port: number): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (await canConnect(port)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return canConnect(port);
}

export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

/** Samples a process's resident set size (kB → bytes) until stopped; returns the peak. */
export function rssSampler(pid: number): { peek(): Promise<number>; stop(): Promise<number> } {
  let peak = 0;
  const sample = async (): Promise<void> => {
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    peak = Math.max(peak, kb * 1024);
  };
  const timer = setInterval(() => void sample(), 20);
  return {
    async peek() {
      await sample();
      return peak;
    },
    async stop() {
      clearInterval(timer);
      await sample();
      return peak;
    },
  };
}
