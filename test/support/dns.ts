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

/**
 * `records` are dnsmasq options such as `--mx-host=a.test,mx.a.test,10` and `--host-record=mx.a.test,127.0.0.1`.
 * `at` puts it on a given loopback address and port (port 53 on an address of its own serves peers such
 * as Exim that can only ask port 53 of the servers in resolv.conf).
 */
export async function startDns(
  dnsmasq: string,
  records: readonly string[],
  at?: { readonly address: string; readonly port: number },
): Promise<TestDns> {
  const port = at?.port ?? (await freePort());
  const address = at?.address ?? '127.0.0.1';
  // --local=/test/: names under .test that are not configured are NXDOMAIN, never forwarded.
  const child: ChildProcess = spawn(
    dnsmasq,
    [
      '--keep-in-foreground',
      `--port=${port}`,
      `--listen-address=${address}`,
      '--bind-interfaces',
      '--no-resolv',
      '--no-hosts',
      '--local=/test/',
      '--user=root',
      '--pid-file',
      ...records,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
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
    server: `${address}:${port}`,
    async stop() {
      if (child.exitCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    },
  };
}
