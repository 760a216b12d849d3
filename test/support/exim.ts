/**
 * Exim as a sending MTA: a private configuration that routes every recipient to one host:port and
 * delivers in the foreground (`exim4 -C cfg -odf -oi rcpt < message`). Exim keeps root privileges
 * for a `-C` file only when started by root, so these tests run as root (CI does).
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { run } from './peers.js';

export interface EximClient {
  /** Submits `message` for `rcpt` and delivers it at once. */
  send(rcpt: string, message: Buffer): Promise<void>;
  mainLog(): Promise<string>;
}

/** With `dkim`, Exim signs what it sends (relaxed/relaxed) with that key. */
export async function eximClient(
  exim: string,
  dir: string,
  port: number,
  dkim?: { readonly domain: string; readonly selector: string; readonly keyFile: string },
): Promise<EximClient> {
  if (process.getuid?.() !== 0)
    throw new Error('the Exim interoperability tests must run as root (Exim drops privileges for a private -C config otherwise)');
  const spool = join(dir, 'spool');
  const log = join(dir, 'log');
  await mkdir(spool, { recursive: true });
  await mkdir(log, { recursive: true });
  // The smtp transport runs as Debian-exim, which must be able to use the private spool.
  await chmod(dir, 0o755);
  await chmod(spool, 0o777);
  const config = join(dir, 'exim.conf');
  await writeFile(
    config,
    [
      'keep_environment =',
      'primary_hostname = exim.test',
      `spool_directory = ${spool}`,
      `log_file_path = ${log}/%slog`,
      'exim_user = root',
      'exim_group = root',
      'never_users =',
      'trusted_users = root',
      'begin routers',
      'to_barge:',
      '  driver = manualroute',
      '  route_list = * 127.0.0.1',
      '  self = send',
      '  transport = to_barge_smtp',
      'begin transports',
      'to_barge_smtp:',
      '  driver = smtp',
      `  port = ${port}`,
      '  allow_localhost',
      '  user = Debian-exim',
      '  hosts_try_chunking = *',
      ...(dkim === undefined
        ? []
        : [
            `  dkim_domain = ${dkim.domain}`,
            `  dkim_selector = ${dkim.selector}`,
            `  dkim_private_key = ${dkim.keyFile}`,
            '  dkim_canon = relaxed',
          ]),
      'begin retry',
      '* * F,1m,1m',
      '',
    ].join('\n'),
  );
  return {
    async send(rcpt, message) {
      const r = await run(exim, ['-C', config, '-odf', '-oi', '-f', 'sender@exim.test', rcpt], message);
      if (r.code !== 0) throw new Error(`exim exited ${String(r.code)}: ${r.stderr}`);
    },
    mainLog: () => readFile(join(log, 'mainlog'), 'utf8').catch(() => ''),
  };
}

export interface EximServer {
  readonly port: number;
  mainLog(): Promise<string>;
  /** Messages Exim delivered to its Maildir, oldest first. */
  messages(): Promise<Buffer[]>;
  stop(): Promise<void>;
}

/**
 * Exim as a receiving MTA on a free loopback port: accepts mail for exim.test into one Maildir.
 * With `tls`, it offers STARTTLS with that certificate. With `nameserver`, Exim runs in a mount
 * namespace whose /etc/resolv.conf names that server (its DKIM and SPF lookups go there).
 */
export async function eximServer(
  exim: string,
  dir: string,
  tls?: { readonly cert: string; readonly key: string },
  nameserver?: string,
): Promise<EximServer> {
  if (process.getuid?.() !== 0)
    throw new Error('the Exim interoperability tests must run as root (Exim drops privileges for a private -C config otherwise)');
  const { spawn } = await import('node:child_process');
  const { readdir } = await import('node:fs/promises');
  const { createServer, connect } = await import('node:net');
  const spool = join(dir, 'spool');
  const log = join(dir, 'log');
  const mail = join(dir, 'mail');
  for (const d of [spool, log, mail]) await mkdir(d, { recursive: true });
  await chmod(dir, 0o755);
  await chmod(spool, 0o777);
  await chmod(mail, 0o777);
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
  const config = join(dir, 'exim-server.conf');
  const tlsLines = tls === undefined ? ['tls_advertise_hosts ='] : [];
  if (tls !== undefined) {
    await writeFile(join(dir, 'cert.pem'), tls.cert);
    await writeFile(join(dir, 'key.pem'), tls.key, { mode: 0o600 });
    tlsLines.push('tls_advertise_hosts = *', `tls_certificate = ${join(dir, 'cert.pem')}`, `tls_privatekey = ${join(dir, 'key.pem')}`);
  }
  await writeFile(
    config,
    [
      'keep_environment =',
      'primary_hostname = exim.test',
      `spool_directory = ${spool}`,
      `log_file_path = ${log}/%slog`,
      'exim_user = root',
      'exim_group = root',
      'never_users =',
      'trusted_users = root',
      'host_lookup =',
      'rfc1413_hosts =',
      'log_selector = +dkim_verbose',
      ...tlsLines,
      'domainlist local_domains = exim.test',
      'acl_smtp_rcpt = check_rcpt',
      `pid_file_path = ${dir}/exim.pid`,
      'begin acl',
      'check_rcpt:',
      '  accept domains = +local_domains',
      '  deny',
      'begin routers',
      'local:',
      '  driver = accept',
      '  domains = +local_domains',
      '  transport = to_maildir',
      'begin transports',
      'to_maildir:',
      '  driver = appendfile',
      `  directory = ${mail}`,
      '  maildir_format',
      '  user = Debian-exim',
      '  group = Debian-exim',
      '  mode = 0644',
      '',
    ].join('\n'),
  );
  const args = ['-C', config, '-bdf', '-oX', String(port)];
  let child: ChildProcess;
  if (nameserver === undefined) child = spawn(exim, args, { stdio: 'ignore' });
  else {
    const resolv = join(dir, 'resolv.conf');
    await writeFile(resolv, `nameserver ${nameserver}\noptions timeout:2 attempts:1\n`);
    child = spawn('unshare', ['-m', 'sh', '-c', 'mount --bind "$0" /etc/resolv.conf && exec "$@"', resolv, exim, ...args], {
      stdio: 'ignore',
    });
  }
  const up = async (): Promise<boolean> =>
    new Promise((resolve) => {
      const s = connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
  for (let i = 0; i < 100 && !(await up()); i++) await new Promise((r) => setTimeout(r, 50));
  return {
    port,
    mainLog: () => readFile(join(log, 'mainlog'), 'utf8').catch(() => ''),
    async messages() {
      const folder = join(mail, 'new');
      const names = (await readdir(folder).catch(() => [] as string[])).sort();
      return Promise.all(names.map((n) => readFile(join(folder, n))));
    },
    async stop() {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    },
  };
}
