/** DKIM-signs a test message (RFC 6376, relaxed/relaxed) with Barge's own signer: the field goes on top. */
import type { KeyObject } from 'node:crypto';
import { RelaxedBodyHash } from '../../src/mailauth/canonical.js';
import { headerEnd, parseHeaderBlock } from '../../src/message/header.js';
import { dkimSignature } from '../../src/mailauth/dkim-sign.js';

export function dkimSigned(
  bytes: Buffer,
  domain: string,
  privateKey: KeyObject,
  headers: readonly string[] = ['from', 'to', 'subject', 'date'],
): Buffer {
  const end = headerEnd(bytes);
  if (end === undefined) throw new Error('a message to sign needs a header section');
  const hash = new RelaxedBodyHash();
  hash.update(bytes.subarray(end.bodyStart));
  const key = { domain, selector: 'k1', algorithm: 'ed25519-sha256', privateKey, headers } as const;
  const fields = parseHeaderBlock(bytes.subarray(0, end.headerLength).toString('latin1'));
  return Buffer.concat([Buffer.from(dkimSignature(key, fields, hash.digest(), new Date())), bytes]);
}
