/**
 * The ACME files under `<dataDir>/acme/`, private (0600, in a 0700 directory) and written durably
 * (durable-write.ts), since a lost or torn key means a new account or no certificate at start:
 * - `account.key`: the account's key (RFC 8555 7.3), made once;
 * - `certificate.pem`: the certificate's private key followed by its chain, in one file, so a crash
 *   never leaves a certificate beside another certificate's key.
 */
import { createPrivateKey, generateKeyPair, X509Certificate } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { writeFileDurably } from '../fs/durable-write.js';

const newKeyPair = promisify(generateKeyPair);

/** An issued certificate: its key, its chain (leaf first), and the facts renewal needs. */
export interface Issued {
  readonly key: string;
  readonly chain: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly serial: string;
  /** Lower-case DNS names of its subjectAltName. */
  readonly names: readonly string[];
}

export function acmeDir(dataDir: string): string {
  return join(dataDir, 'acme');
}

export function certificateFile(dir: string): string {
  return join(dir, 'certificate.pem');
}

/** A new private key (ECDSA P-256, PKCS#8 PEM): for the account and for each certificate. */
export async function newPrivateKey(): Promise<string> {
  const { privateKey } = await newKeyPair('ec', {
    namedCurve: 'P-256',
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return privateKey;
}

/** The account key, made and stored on first use. */
export async function accountKey(dir: string): Promise<string> {
  const file = join(dir, 'account.key');
  // Missing or unreadable: a new account key is made below.
  const existing = await readFile(file, 'utf8').catch(() => undefined);
  if (existing?.includes('PRIVATE KEY') === true) return existing;
  const key = await newPrivateKey();
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileDurably(file, key, { mode: 0o600 });
  return key;
}

/** The stored certificate, or undefined when there is none or it does not parse. */
export async function readIssued(dir: string): Promise<Issued | undefined> {
  // Missing or unreadable: no certificate yet, one is ordered.
  const text = await readFile(certificateFile(dir), 'utf8').catch(() => undefined);
  const key = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n?/.exec(text ?? '')?.[0];
  if (text === undefined || key === undefined) return undefined;
  try {
    return issued(key, text.replace(key, ''));
  } catch {
    return undefined;
  }
}

/** Stores a new certificate with its key (one durable write), replacing the old one. */
export async function writeIssued(dir: string, key: string, chain: string): Promise<Issued> {
  const result = issued(key, chain);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileDurably(certificateFile(dir), `${key.trimEnd()}\n${chain.trimStart()}`, { mode: 0o600 });
  return result;
}

/** Parses the chain's leaf; throws when it does not parse or does not belong to the key. */
function issued(key: string, chain: string): Issued {
  const leaf = new X509Certificate(chain);
  if (!leaf.checkPrivateKey(createPrivateKey(key))) throw new Error('the certificate does not match its key');
  const names = (leaf.subjectAltName ?? '')
    .split(', ')
    .filter((n) => n.startsWith('DNS:'))
    .map((n) => n.slice(4).toLowerCase());
  return { key, chain, notBefore: new Date(leaf.validFrom), notAfter: new Date(leaf.validTo), serial: leaf.serialNumber, names };
}
