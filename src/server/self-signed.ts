/**
 * The certificate Barge makes for itself when none is configured: self-signed for the hostname, kept
 * under `<dataDir>/tls/` and reused while it has a month left, so STARTTLS works out of the box
 * (peers doing opportunistic TLS, RFC 3207 and RFC 7435, accept it). Made by a child process
 * (self-signed-child.ts) so the X.509 libraries never stay in the server's memory.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { writeFileDurably } from '../fs/durable-write.js';
import type { Clock } from '../time/clock.js';

export interface PemPair {
  readonly cert: string;
  readonly key: string;
}

/** Reuses `<dir>/self-signed.{crt,key}` while the certificate is valid for a month more, else makes a new pair. */
export async function selfSigned(dir: string, hostname: string, clock: Clock): Promise<PemPair & { description: string }> {
  const certFile = join(dir, 'self-signed.crt');
  const keyFile = join(dir, 'self-signed.key');
  try {
    const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
    const x509 = new X509Certificate(cert);
    if (new Date(x509.validTo).getTime() - clock.now().getTime() > 30 * 86_400_000 && x509.checkHost(hostname) !== undefined) {
      return { cert, key, description: `self-signed certificate for ${hostname} (${certFile})` };
    }
  } catch {
    // Missing or unreadable: make a new pair below.
  }
  const pem = await generateSelfSigned(hostname, clock.now());
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Key first, each via a temporary name, so a crash never leaves a certificate without its key.
  await writeFileDurably(keyFile, pem.key, { mode: 0o600 });
  await writeFileDurably(certFile, pem.cert, { mode: 0o644 });
  return { ...pem, description: `self-signed certificate for ${hostname} (generated, ${certFile})` };
}

/** A self-signed certificate for `hostname` (and loopback addresses), valid for ten years, made by a child process. */
export function generateSelfSigned(hostname: string, notBefore = new Date()): Promise<PemPair> {
  const script = fileURLToPath(new URL('./self-signed-child.js', import.meta.url));
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [script, hostname, String(notBefore.getTime())], (e, stdout) => {
      if (e !== null) return reject(new Error(`certificate generation failed: ${e.message}`));
      const pem = parsePair(stdout);
      if (pem === undefined) reject(new Error('certificate generation printed no pair'));
      else resolve(pem);
    });
  });
}

function parsePair(text: string): PemPair | undefined {
  try {
    const pem = JSON.parse(text) as { cert?: unknown; key?: unknown };
    return typeof pem.cert === 'string' && typeof pem.key === 'string' ? { cert: pem.cert, key: pem.key } : undefined;
  } catch {
    return undefined;
  }
}
