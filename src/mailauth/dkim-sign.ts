/**
 * DKIM signatures (RFC 6376 5) with rsa-sha256 and ed25519-sha256 (RFC 8463), relaxed/relaxed.
 * Header fields are chosen bottom-up (RFC 6376 5.4.2) and From is over-signed: named once more than
 * it occurs, so a From added in transit breaks the signature (RFC 6376 8.15).
 */
import { createHash, sign, type KeyObject } from 'node:crypto';
import { relaxedHeader } from './canonical.js';
import type { HeaderField } from '../message/header.js';

export type DkimAlgorithm = 'rsa-sha256' | 'ed25519-sha256';

export interface DkimKey {
  readonly domain: string;
  readonly selector: string;
  readonly algorithm: DkimAlgorithm;
  readonly privateKey: KeyObject;
  /** Lower-case names of the header fields to sign when present. */
  readonly headers: readonly string[];
}

/** Header names to put in h=: each as often as it occurs, From once more. */
export function signedHeaderNames(fields: readonly HeaderField[], wanted: readonly string[]): string[] {
  const names: string[] = [];
  for (const name of new Set(['from', ...wanted.map((w) => w.toLowerCase())])) {
    const count = fields.filter((f) => f.name === name).length;
    for (let i = 0; i < count; i++) names.push(name);
  }
  names.push('from');
  return names;
}

/** RFC 6376 5.4.2: each name takes the next instance from the bottom; a name with none left adds nothing. */
export function signedHeaderData(fields: readonly HeaderField[], names: readonly string[]): string {
  const used = new Map<string, number>();
  let data = '';
  for (const name of names) {
    const instances = fields.filter((f) => f.name === name);
    const n = used.get(name) ?? 0;
    used.set(name, n + 1);
    const field = instances[instances.length - 1 - n];
    if (field !== undefined) data += `${relaxedHeader(field.raw)}\r\n`;
  }
  return data;
}

/** The signature value over canonical data (RFC 8463 3: Ed25519 signs the SHA-256 hash of it). */
export function signData(algorithm: DkimAlgorithm, key: KeyObject, data: string): string {
  const bytes = Buffer.from(data, 'latin1');
  if (algorithm === 'ed25519-sha256') return sign(null, createHash('sha256').update(bytes).digest(), key).toString('base64');
  return sign('sha256', bytes, key).toString('base64');
}

/** Folds "tag=value" parts into lines under 78 characters (RFC 5322 2.1.1), long values at ':'. */
function fold(first: string, parts: readonly string[]): string {
  const lines = [first];
  for (const part of parts) {
    const pieces = part.startsWith('h=') ? part.split(/(?<=:)/) : [part];
    for (const [i, piece] of pieces.entries()) {
      const current = lines[lines.length - 1] ?? '';
      const sep = i === 0 ? ' ' : '';
      if (current.length + sep.length + piece.length > 76 && current.trim() !== '') lines.push(`\t${piece}`);
      else lines[lines.length - 1] = `${current}${sep}${piece}`;
    }
  }
  return lines.join('\r\n');
}

/** A complete DKIM-Signature field (with CRLF) for a message with these header fields and body hash. */
export function dkimSignature(key: DkimKey, fields: readonly HeaderField[], bodyHash: string, time: Date): string {
  const names = signedHeaderNames(fields, key.headers);
  const tags = [
    'v=1;',
    `a=${key.algorithm};`,
    'c=relaxed/relaxed;',
    `d=${key.domain};`,
    `s=${key.selector};`,
    `t=${Math.floor(time.getTime() / 1000)};`,
    `h=${names.join(':')};`,
    `bh=${bodyHash};`,
  ];
  const unsigned = `${fold('DKIM-Signature:', tags)}\r\n\tb=`;
  const b = signData(key.algorithm, key.privateKey, signedHeaderData(fields, names) + relaxedHeader(unsigned));
  // Folding inside b= is part of the value, which verifiers remove before hashing (RFC 6376 3.7).
  return `${unsigned}${(b.match(/.{1,70}/g) ?? []).join('\r\n\t')}\r\n`;
}
