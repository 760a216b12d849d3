/**
 * The server's TLS credentials. With `[tls] cert/key` configured they are read from those PEM files
 * (and read again on SIGHUP, so a renewed certificate needs no restart). Without them a self-signed
 * certificate for the hostname is generated once and kept under `<dataDir>/tls/`, so STARTTLS works
 * out of the box: peers doing opportunistic TLS (RFC 3207, RFC 7435) accept it.
 */
import { createSecureContext, type SecureContext } from 'node:tls';
import { mkdir, readFile } from 'node:fs/promises';
import { writeFileDurably } from '../fs/durable-write.js';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/types.js';

export class TlsCredentials {
  #context: SecureContext;
  #description: string;
  #pem: { readonly cert: string; readonly key: string };
  readonly #load: () => Promise<{ cert: string; key: string; description: string }>;

  private constructor(pem: { cert: string; key: string; description: string }, load: () => Promise<{ cert: string; key: string; description: string }>) {
    this.#context = createSecureContext({ cert: pem.cert, key: pem.key, minVersion: 'TLSv1.2' });
    this.#description = pem.description;
    this.#pem = { cert: pem.cert, key: pem.key };
    this.#load = load;
  }

  /** Loads the configured files, or makes (or reuses) the self-signed pair. */
  static async open(config: Config, now: () => Date = () => new Date()): Promise<TlsCredentials> {
    const files = config.tls;
    const load =
      files === undefined
        ? () => selfSigned(join(config.dataDir, 'tls'), config.hostname, now)
        : async () => ({ cert: await readFile(files.certFile, 'utf8'), key: await readFile(files.keyFile, 'utf8'), description: `certificate ${files.certFile}` });
    return new TlsCredentials(await load(), load);
  }

  get context(): SecureContext {
    return this.#context;
  }

  /** The PEM pair, for the admin console's HTTPS listener. */
  get pem(): { readonly cert: string; readonly key: string } {
    return this.#pem;
  }

  /** "certificate /etc/barge/cert.pem" or "self-signed certificate for mx.example (…)". */
  get description(): string {
    return this.#description;
  }

  /** Reads the files again; on failure the old credentials stay in use and the error is thrown. */
  async reload(): Promise<void> {
    const pem = await this.#load();
    this.#context = createSecureContext({ cert: pem.cert, key: pem.key, minVersion: 'TLSv1.2' });
    this.#description = pem.description;
    this.#pem = { cert: pem.cert, key: pem.key };
  }
}

/** Reuses `<dir>/self-signed.{crt,key}` while the certificate is valid for a month more, else makes a new pair. */
async function selfSigned(dir: string, hostname: string, now: () => Date): Promise<{ cert: string; key: string; description: string }> {
  const certFile = join(dir, 'self-signed.crt');
  const keyFile = join(dir, 'self-signed.key');
  try {
    const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
    const x509 = new X509Certificate(cert);
    if (new Date(x509.validTo).getTime() - now().getTime() > 30 * 86_400_000 && x509.checkHost(hostname) !== undefined) {
      return { cert, key, description: `self-signed certificate for ${hostname} (${certFile})` };
    }
  } catch {
    // Missing or unreadable: make a new pair below.
  }
  const pem = await generateSelfSigned(hostname, now());
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Key first, each via a temporary name, so a crash never leaves a certificate without its key.
  await writeFileDurably(keyFile, pem.key, { mode: 0o600 });
  await writeFileDurably(certFile, pem.cert, { mode: 0o644 });
  return { ...pem, description: `self-signed certificate for ${hostname} (generated, ${certFile})` };
}

/** A self-signed certificate for `hostname` (and loopback addresses), valid for ten years, made by a child process. */
export function generateSelfSigned(hostname: string, notBefore = new Date()): Promise<{ cert: string; key: string }> {
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

function parsePair(text: string): { cert: string; key: string } | undefined {
  try {
    const pem = JSON.parse(text) as { cert?: unknown; key?: unknown };
    return typeof pem.cert === 'string' && typeof pem.key === 'string' ? { cert: pem.cert, key: pem.key } : undefined;
  } catch {
    return undefined;
  }
}
