/** DKIM signing: the RFC 8463 Appendix A known answers, and signatures mailauth verifies. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { relaxedHeader, RelaxedBodyHash } from './canonical.js';
import { headerEnd, parseHeaderBlock } from '../message/header.js';
import { dkimSignature, signData, signedHeaderData } from './dkim-sign.js';
import { dnsTxtRecord } from './dkim-keys.js';

// RFC 8463 A.1 (Ed25519 secret key), A.2 (its public key) and A.3 (the signed message).
const SEED = 'nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=';
const PUBLIC = '11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=';
const RFC_SIGNATURE = [
  'DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;',
  ' d=football.example.com; i=@football.example.com;',
  ' q=dns/txt; s=brisbane; t=1528637909; h=from : to :',
  ' subject : date : message-id : from : subject : date;',
  ' bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;',
  ' b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus',
  ' Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==',
].join('\r\n');
const RFC_B = '/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11BusFa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==';
const MESSAGE = [
  'From: Joe SixPack <joe@football.example.com>',
  'To: Suzie Q <suzie@shopping.example.net>',
  'Subject: Is dinner ready?',
  'Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)',
  'Message-ID: <20030712040037.46341.5F8J@football.example.com>',
  '',
  'Hi.',
  '',
  'We lost the game.  Are you hungry yet?',
  '',
  'Joe.',
  '',
].join('\r\n');

const b64url = (b64: string): string => Buffer.from(b64, 'base64').toString('base64url');
const rfcKey = (): KeyObject =>
  createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: b64url(SEED), x: b64url(PUBLIC) }, format: 'jwk' });

function split(message: string): { fields: ReturnType<typeof parseHeaderBlock>; body: Buffer } {
  const bytes = Buffer.from(message, 'latin1');
  const end = headerEnd(bytes);
  assert.ok(end !== undefined);
  return { fields: parseHeaderBlock(bytes.subarray(0, end.headerLength).toString('latin1')), body: bytes.subarray(end.bodyStart) };
}

test('RFC 8463 A.3: the relaxed body hash and the Ed25519 b= value are reproduced exactly', () => {
  const { fields, body } = split(MESSAGE);
  const hash = new RelaxedBodyHash();
  // Fed in odd pieces: lines and CRLFs split across updates must not change the hash.
  for (let i = 0; i < body.length; i += 7) hash.update(body.subarray(i, i + 7));
  assert.equal(hash.digest(), '2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=');
  const names = ['from', 'to', 'subject', 'date', 'message-id', 'from', 'subject', 'date'];
  const unsigned = RFC_SIGNATURE.replace(/b=[^;]*$/, 'b=');
  const b = signData('ed25519-sha256', rfcKey(), signedHeaderData(fields, names) + relaxedHeader(unsigned));
  assert.equal(b, RFC_B);
});

test('RFC 8463 A.2: the DNS record of the example key', () => {
  const pub = rfcKey();
  assert.equal(dnsTxtRecord(pub), `v=DKIM1; k=ed25519; p=${PUBLIC}`);
});

for (const type of ['rsa', 'ed25519'] as const) {
  test(`a ${type} signature verifies with mailauth; an added From breaks it (over-signed)`, async () => {
    const { privateKey } = type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519');
    const algorithm = type === 'rsa' ? 'rsa-sha256' : 'ed25519-sha256';
    const { fields, body } = split(MESSAGE.replace('Hi.', 'Hi.  \t trailing'));
    const hash = new RelaxedBodyHash();
    hash.update(body);
    const key = {
      domain: 'football.example.com',
      selector: 'sel',
      algorithm,
      privateKey,
      headers: ['from', 'to', 'subject', 'date'],
    } as const;
    const signature = dkimSignature(key, fields, hash.digest(), new Date('2026-01-01T00:00:00Z'));
    assert.match(signature, /h=from:to:subject:date:from;/);
    assert.ok(
      signature.split('\r\n').every((line) => line.length <= 78),
      signature,
    );
    const resolver = async (name: string): Promise<string[][]> => {
      if (name !== 'sel._domainkey.football.example.com') throw Object.assign(new Error('nx'), { code: 'ENOTFOUND' });
      return [[dnsTxtRecord(privateKey)]];
    };
    const signed = signature + MESSAGE.replace('Hi.', 'Hi.  \t trailing');
    const good = await dkimVerify(Buffer.from(signed, 'latin1'), { resolver });
    assert.equal(good.results[0]?.status.result, 'pass', JSON.stringify(good.results));
    const forged = signed.replace('From: Joe', 'From: Mallory <m@evil.example>\r\nFrom: Joe');
    const bad = await dkimVerify(Buffer.from(forged, 'latin1'), { resolver });
    assert.equal(bad.results[0]?.status.result, 'fail');
  });
}
