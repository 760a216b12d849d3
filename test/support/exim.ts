/**
 * Exim as a sending MTA: a private configuration that routes every recipient to one host:port and
 * delivers in the foreground (`exim4 -C cfg -odf -oi rcpt < message`). Exim keeps root privileges
 * for a `-C` file only when started by root, so these tests run as root (CI does).
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './peers.js';

export interface EximClient {
  /** Submits `message` for `rcpt` and delivers it at once. */
  send(rcpt: string, message: Buffer): Promise<void>;
  mainLog(): Promise<string>;
}

export async function eximClient(exim: string, dir: string, port: number): Promise<EximClient> {
  if (process.getuid?.() !== 0) throw new Error('the Exim interoperability tests must run as root (Exim drops privileges for a private -C config otherwise)');
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
