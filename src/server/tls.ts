/**
 * The server's TLS credentials. With `[tls] cert/key` configured they are read from those PEM files
 * (and read again on reload, new paths included, so a renewed certificate needs no restart: new
 * handshakes use it, connections already secured keep theirs). Without them a self-signed
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
import { ConfigError } from '../config/assemble.js';
import { systemErrorText } from '../config/system-errors.js';

/** A certificate and its key, ready for handshakes: the PEM pair, its context, and its description. */
export interface TlsMaterial {
  readonly cert: string;
  readonly key: string;
  /** "certificate /etc/barge/cert.pem" or "self-signed certificate for mx.example (…)". */
  readonly description: string;
  readonly context: SecureContext;
}

/**
 * Reads the pair `config` names (or makes or reuses the self-signed one) and builds its context. A
 * file that cannot be read, or a pair that does not match, is a ConfigError naming the file(s): at
 * start it stops `barge serve` with that line, on reload it refuses the reload.
 */
export async function loadTlsMaterial(config: Config, now: () => Date = () => new Date()): Promise<TlsMaterial> {
  const files = config.tls;
  const pem =
    files === undefined
      ? await selfSigned(join(config.dataDir, 'tls'), config.hostname, now)
      : { cert: await readPem(files.certFile, 'tls.cert'), key: await readPem(files.keyFile, 'tls.key'), description: `certificate ${files.certFile}` };
  try {
    return { ...pem, context: createSecureContext({ cert: pem.cert, key: pem.key, minVersion: 'TLSv1.2' }) };
  } catch (e) {
    const pair = files === undefined ? pem.description : `tls.cert ${files.certFile} and tls.key ${files.keyFile}`;
    throw new ConfigError(`${pair}: not a usable certificate and private key: ${systemErrorText(e)}`);
  }
}

async function readPem(path: string, key: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`${key}: cannot read ${path}: ${systemErrorText(e)}`);
  }
}

export class TlsCredentials {
  #material: TlsMaterial;

  private constructor(material: TlsMaterial) {
    this.#material = material;
  }

  /** Loads the configured files, or makes (or reuses) the self-signed pair. */
  static async open(config: Config, now: () => Date = () => new Date()): Promise<TlsCredentials> {
    return new TlsCredentials(await loadTlsMaterial(config, now));
  }

  /** What a handshake starting now uses. */
  get context(): SecureContext {
    return this.#material.context;
  }

  /** The PEM pair, for the admin console's HTTPS listener. */
  get pem(): { readonly cert: string; readonly key: string } {
    return { cert: this.#material.cert, key: this.#material.key };
  }

  get description(): string {
    return this.#material.description;
  }

  /** Handshakes from now on use `material` (a reload's, already loaded); secured connections keep theirs. */
  use(material: TlsMaterial): void {
    this.#material = material;
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
