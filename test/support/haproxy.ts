/**
 * HAProxy (Debian's `haproxy`) as the load balancer in front of Barge: mode tcp, one frontend on a
 * free loopback port, one backend server (Barge's listener) sent the PROXY header, from a source
 * address of the test's choosing so the balancer's address differs from the client's.
 */
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from './dns.js';
import { tempDir } from './barge.js';

export interface TestHaproxy {
  /** The frontend's port on 127.0.0.1. */
  readonly port: number;
  stop(): Promise<void>;
}

export interface HaproxyOptions {
  readonly backendPort: number;
  /** HAProxy's server keyword: "send-proxy" (version 1, text) or "send-proxy-v2" (binary). */
  readonly header: 'send-proxy' | 'send-proxy-v2';
  /** The address HAProxy connects to Barge from. */
  readonly source: string;
}

export async function startHaproxy(haproxy: string, o: HaproxyOptions): Promise<TestHaproxy> {
  const dir = await tempDir('barge-haproxy-');
  const port = await freePort();
  const config = join(dir, 'haproxy.cfg');
  await writeFile(
    config,
    [
      'defaults',
      '  mode tcp',
      '  timeout connect 5s',
      '  timeout client 60s',
      '  timeout server 60s',
      'frontend smtp_in',
      `  bind 127.0.0.1:${port}`,
      '  default_backend barge',
      'backend barge',
      `  server barge 127.0.0.1:${o.backendPort} ${o.header} source ${o.source}`,
      '',
    ].join('\n'),
  );
  // -db: foreground, no daemon; stderr carries its warnings and errors.
  const child = spawn(haproxy, ['-f', config, '-db'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let errors = '';
  child.stderr?.on('data', (d: Buffer) => void (errors += d.toString()));
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`haproxy exited ${String(code)}: ${errors}`))),
  );
  await Promise.race([exited, listening(port)]);
  exited.catch(() => undefined);
  return {
    port,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    },
  };
}

/** Waits until the kernel shows a listening socket on 127.0.0.1:port (a test connection would reach Barge). */
async function listening(port: number): Promise<void> {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const table = await readFile('/proc/net/tcp', 'utf8');
    // Columns: sl local_address rem_address st ...; st 0A is LISTEN.
    if (table.split('\n').some((line) => line.trim().split(/\s+/)[1] === local && line.trim().split(/\s+/)[3] === '0A')) return;
    if (Date.now() > deadline) throw new Error(`haproxy did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
