/**
 * pebble, Let's Encrypt's test ACME server, on loopback: its directory over HTTPS with a certificate
 * of its own (made here), HTTP-01 validated against `httpPort` on the address each name resolves to
 * through `dnsServer` (dnsmasq, dns.ts). No random validation delay (PEBBLE_VA_NOSLEEP); every order
 * gets fresh authorizations (PEBBLE_AUTHZREUSE=0), so each one really answers its challenges.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { get } from 'node:https';
import { join } from 'node:path';
import { generateSelfSigned } from '../../src/server/tls.js';
import { freePort } from './dns.js';

export interface TestPebble {
  /** The directory URL, for `[acme] directory`. */
  readonly directory: string;
  /** The PEM file that pebble's HTTPS certificate chains to, for `[acme] ca_file`. */
  readonly caFile: string;
  /** The root that pebble's issued certificates chain to (made anew at each start). */
  root(): Promise<string>;
  stop(): Promise<void>;
}

export async function startPebble(
  pebble: string,
  o: { readonly dir: string; readonly httpPort: number; readonly dnsServer: string },
): Promise<TestPebble> {
  // A self-signed pair for localhost and 127.0.0.1 is its own trust anchor.
  const own = await generateSelfSigned('localhost');
  const certificate = join(o.dir, 'pebble.crt');
  const privateKey = join(o.dir, 'pebble.key');
  await writeFile(certificate, own.cert);
  await writeFile(privateKey, own.key, { mode: 0o600 });
  const [port, management] = [await freePort(), await freePort()];
  const config = join(o.dir, 'pebble.json');
  await writeFile(
    config,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${port}`,
        managementListenAddress: `127.0.0.1:${management}`,
        certificate,
        privateKey,
        httpPort: o.httpPort,
        tlsPort: await freePort(),
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
      },
    }),
  );
  const child = spawn(pebble, ['-config', config, '-dnsserver', o.dnsServer], {
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_AUTHZREUSE: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const seen = (d: Buffer): void => {
      log += d.toString();
      if (log.includes('ACME directory available')) resolve();
    };
    child.stdout.on('data', seen);
    child.stderr.on('data', seen);
    child.once('exit', (code) => reject(new Error(`pebble exited ${String(code)}: ${log}`)));
    setTimeout(() => reject(new Error(`pebble did not start: ${log}`)), 10_000).unref();
  });
  return {
    directory: `https://127.0.0.1:${port}/dir`,
    caFile: certificate,
    root: () =>
      new Promise((resolve, reject) => {
        get(`https://127.0.0.1:${management}/roots/0`, { ca: own.cert }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve(body));
        }).on('error', reject);
      }),
    async stop() {
      if (child.exitCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    },
  };
}
