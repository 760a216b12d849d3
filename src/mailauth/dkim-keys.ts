/**
 * DKIM keys and their DNS records (RFC 6376 3.6.1, RFC 8463 4.2): an RSA record carries the
 * SubjectPublicKeyInfo in base64, an Ed25519 record the bare 32-byte public key.
 */
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The p= value of a key (private or public). */
export function publicKeyData(key: KeyObject): string {
  const pub = key.type === 'public' ? key : createPublicKey(key);
  const der = pub.export({ type: 'spki', format: 'der' });
  // An Ed25519 SubjectPublicKeyInfo is a fixed 12-byte prefix and the 32-byte key (RFC 8410 4).
  return (pub.asymmetricKeyType === 'ed25519' ? der.subarray(der.length - 32) : der).toString('base64');
}

export function dnsTxtRecord(key: KeyObject): string {
  return `v=DKIM1; k=${key.asymmetricKeyType === 'ed25519' ? 'ed25519' : 'rsa'}; p=${publicKeyData(key)}`;
}

/** The record as zone-file strings: TXT character-strings hold at most 255 octets (RFC 1035 3.3). */
export function zoneStrings(record: string): string {
  return (record.match(/.{1,255}/g) ?? []).map((s) => `"${s}"`).join(' ');
}

/** `<dataDir>/dkim/<domain>.<selector>.pem` */
export function dkimKeyPath(dataDir: string, domain: string, selector: string): string {
  return join(dataDir, 'dkim', `${domain}.${selector}.pem`);
}

/** Makes a key pair and writes the private key (PKCS#8 PEM, mode 0600, never over an existing file). */
export async function generateDkimKey(path: string, algorithm: 'rsa' | 'ed25519'): Promise<KeyObject> {
  const { privateKey } = algorithm === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519');
  await mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
  await writeFile(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  return privateKey;
}

/** The tags of a DKIM key record ("v=DKIM1; k=rsa; p=..."), names lower case. */
export function parseKeyRecord(text: string): Map<string, string> {
  const tags = new Map<string, string>();
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) tags.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).replace(/\s+/g, ''));
  }
  return tags;
}
