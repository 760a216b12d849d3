/**
 * Signs a message once, when it is first taken from the queue with a relayed recipient (only
 * authenticated and relay-network clients can give one) and its From domain has a DKIM key.
 * Signing is the last change to the content: 8-bit and binary parts are converted to 7-bit base64
 * first (RFC 6376 5.3 advises it), so no later hop needs to downconvert and break the signature,
 * and the entry is rewritten durably with the DKIM-Signature fields on top.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Config } from '../config/types.js';
import { ConfigError } from '../config/assemble.js';
import { systemErrorText } from '../config/system-errors.js';
import type { Spool, SpoolEnvelope } from '../queue/spool.js';
import type { TrackingEvent } from '../log/tracking.js';
import { downconvert } from '../message/downconvert.js';
import { RelaxedBodyHash } from './canonical.js';
import { headerEnd, parseHeaderBlock, type HeaderField } from '../message/header.js';
import { dkimSignature, type DkimAlgorithm, type DkimKey } from './dkim-sign.js';
import type { Clock } from '../time/clock.js';

/** A header block larger than this is not signed (no real message has one). */
const MAX_HEADER_BYTES = 256 * 1024;

export function algorithmOf(key: KeyObject): DkimAlgorithm | undefined {
  if (key.asymmetricKeyType === 'rsa') return 'rsa-sha256';
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519-sha256';
  return undefined;
}

/**
 * Reads every configured key (at start and on reload), so a missing or wrong key stops the server,
 * or refuses the reload, rather than a delivery. A ConfigError names the domain and the file.
 */
export async function loadDkimKeys(config: Config): Promise<ReadonlyMap<string, readonly DkimKey[]>> {
  const out = new Map<string, DkimKey[]>();
  for (const [domain, entries] of config.dkim) {
    const keys: DkimKey[] = [];
    for (const e of entries) {
      const bytes = await readFile(e.keyFile).catch((err: unknown) => {
        throw new ConfigError(`dkim.${domain}: cannot read the key ${e.keyFile}: ${systemErrorText(err)}`);
      });
      let privateKey: KeyObject;
      try {
        privateKey = createPrivateKey(bytes);
      } catch (err) {
        throw new ConfigError(`dkim.${domain}: ${e.keyFile} is not a private key in PEM or DER: ${systemErrorText(err)}`);
      }
      const type = algorithmOf(privateKey);
      if (type === undefined || (e.algorithm !== undefined && e.algorithm !== type)) {
        throw new ConfigError(
          `dkim.${domain}: ${e.keyFile} is a ${privateKey.asymmetricKeyType ?? 'unknown'} key, not ${e.algorithm ?? 'RSA or Ed25519'}`,
        );
      }
      keys.push({ domain, selector: e.selector, algorithm: type, privateKey, headers: e.headers });
    }
    out.set(domain, keys);
  }
  return out;
}

/** The domain of the (first) address in From. */
export function fromDomain(fields: readonly HeaderField[]): string | undefined {
  const from = fields.find((f) => f.name === 'from');
  if (from === undefined) return undefined;
  const value = from.raw.slice(from.raw.indexOf(':') + 1).replace(/\([^()]*\)/g, '');
  const angle = /<[^<>]*@([^<>@\s]+)>/.exec(value);
  const bare = /@([A-Za-z0-9.-]+)/.exec(value);
  return (angle?.[1] ?? bare?.[1])?.toLowerCase().replace(/\.$/, '');
}

export interface QueueSignerDeps {
  readonly spool: Spool;
  readonly keys: ReadonlyMap<string, readonly DkimKey[]>;
  readonly clock: Clock;
  readonly track: (event: TrackingEvent) => void;
}

const CONVERSION = '8-bit content converted to base64 before DKIM signing (RFC 6376 5.3)';

export function queueSigner(deps: QueueSignerDeps): (id: string, envelope: SpoolEnvelope) => Promise<SpoolEnvelope> {
  return async (id, envelope) => {
    if (envelope.dkim !== undefined || envelope.transaction.rcpts.every((r) => r.local)) return envelope;
    const tx = envelope.transaction;
    const content = (): Readable => {
      const raw = deps.spool.messageStream(id, envelope);
      return tx.body === '7BIT' ? raw : downconvert(raw, tx.body, CONVERSION);
    };
    const hashed = await hashMessage(content(), deps.keys);
    if (hashed === undefined) return envelope;
    const time = deps.clock.now();
    const signatures = hashed.keys.map((k) => dkimSignature(k, hashed.fields, hashed.bodyHash, time));
    async function* signed(): AsyncGenerator<Buffer> {
      yield Buffer.from(signatures.join(''), 'latin1');
      for await (const chunk of content()) yield chunk as Buffer;
    }
    const names = hashed.keys.map((k) => `${k.domain}/${k.selector}`);
    const { messageLength: _old, ...rest } = envelope;
    const rewritten = await deps.spool.rewrite(id, signed(), { ...rest, transaction: { ...tx, body: '7BIT' }, dkim: names });
    deps.track({ event: 'signed', id, signatures: names, ...(tx.body === '7BIT' ? {} : { converted: CONVERSION }) });
    return rewritten;
  };
}

/** One pass over the content: its header fields, the keys of its From domain, the relaxed body hash. */
async function hashMessage(
  stream: Readable,
  keys: ReadonlyMap<string, readonly DkimKey[]>,
): Promise<{ fields: HeaderField[]; keys: readonly DkimKey[]; bodyHash: string } | undefined> {
  let head = Buffer.alloc(0);
  let fields: HeaderField[] | undefined;
  let domainKeys: readonly DkimKey[] | undefined;
  const body = new RelaxedBodyHash();
  try {
    for await (const chunk of stream) {
      if (fields !== undefined) {
        body.update(chunk as Buffer);
        continue;
      }
      head = Buffer.concat([head, chunk as Buffer]);
      const end = headerEnd(head);
      if (end === undefined) {
        if (head.length > MAX_HEADER_BYTES) return undefined;
        continue;
      }
      fields = parseHeaderBlock(head.subarray(0, end.headerLength).toString('latin1'));
      const domain = fromDomain(fields);
      domainKeys = domain === undefined ? undefined : keys.get(domain);
      if (domainKeys === undefined || domainKeys.length === 0) return undefined;
      body.update(head.subarray(end.bodyStart));
    }
  } finally {
    stream.destroy();
  }
  if (fields === undefined || domainKeys === undefined) return undefined;
  return { fields, keys: domainKeys, bodyHash: body.digest() };
}
