/**
 * Real peers for interoperability tests (Exim, swaks, Python, dnsmasq, pebble, openssl, HAProxy). A missing peer fails the test with a
 * clear message; set BARGE_ALLOW_MISSING_PEERS=1 to skip such tests instead on a developer machine.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';

const PATHS: Readonly<Record<string, readonly string[]>> = {
  exim4: ['/usr/sbin/exim4', '/usr/sbin/exim'],
  swaks: ['/usr/bin/swaks', '/usr/local/bin/swaks'],
  python3: ['/usr/bin/python3', '/usr/local/bin/python3'],
  dnsmasq: ['/usr/sbin/dnsmasq'],
  pebble: ['/usr/bin/pebble'],
  openssl: ['/usr/bin/openssl'],
  haproxy: ['/usr/sbin/haproxy'],
};

/** The peer's path, or undefined after marking the test skipped (only when missing peers are allowed). */
export function peer(t: TestContext, name: keyof typeof PATHS & string): string | undefined {
  const found = (PATHS[name] ?? []).find((p) => existsSync(p));
  if (found !== undefined) return found;
  const pkg = name === 'exim4' ? 'exim4-daemon-light' : name === 'dnsmasq' ? 'dnsmasq-base' : name;
  const message = `${name} is not installed (apt-get install ${pkg}; scripts/prepare.mjs --test does it as root)`;
  if (process.env.BARGE_ALLOW_MISSING_PEERS === '1') {
    t.skip(message);
    return undefined;
  }
  throw new Error(message);
}

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion, feeding `input` on stdin. */
export function run(command: string, args: readonly string[], input?: Buffer | string, timeoutMs = 30_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
    child.stdin.end(input);
  });
}
