/** dnsmasq as an authoritative-only DNS server on a loopback port, with MX and address records for tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export interface TestDns {
  /** "127.0.0.1:PORT" for `[dns] servers`. */
  readonly server: string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

/** `records` are dnsmasq options such as `--mx-host=a.test,mx.a.test,10` and `--host-record=mx.a.test,127.0.0.1`. */
export async function startDns(dnsmasq: string, records: readonly string[]): Promise<TestDns> {
  const port = await freePort();
  // --local=/test/: names under .test that are not configured are NXDOMAIN, never forwarded.
  const child: ChildProcess = spawn(dnsmasq, ['--keep-in-foreground', `--port=${port}`, '--listen-address=127.0.0.1', '--bind-interfaces', '--no-resolv', '--no-hosts', '--local=/test/', '--user=root', '--pid-file', ...records], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let text = '';
    child.stderr?.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.includes('started')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`dnsmasq exited ${String(code)}: ${text}`)));
    setTimeout(resolve, 1000);
  });
  return {
    server: `127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    },
  };
}
