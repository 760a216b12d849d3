/**
 * The ACME client process (order.ts forks it): takes one order over the IPC channel, registers or
 * finds the account (RFC 8555 7.3), orders the certificate, has the server answer each HTTP-01
 * challenge (8.3), finalizes with a CSR for the server's key (7.4) and sends the chain back. It uses
 * acme-client, which nothing in the server process imports.
 */
import { Agent } from 'node:https';
import { rootCertificates } from 'node:tls';
import acme from 'acme-client';
import type { ChildMessage, OrderRequest, ParentMessage } from './order.js';

/** Each request to the CA; the library retries 429 and 5xx answers itself (RFC 8555 6.6). */
const REQUEST_TIMEOUT_MS = 30_000;

const waiting = new Map<string, () => void>();

function send(m: ChildMessage, then?: () => void): void {
  process.send?.(m, undefined, undefined, then);
}

async function order(r: OrderRequest): Promise<string> {
  acme.axios.defaults.timeout = REQUEST_TIMEOUT_MS;
  if (r.extraCa !== undefined) acme.axios.defaults.httpsAgent = new Agent({ ca: [...rootCertificates, r.extraCa] });
  const client = new acme.Client({ directoryUrl: r.directory, accountKey: r.accountKey });
  const [, csr] = await acme.crypto.createCsr({ commonName: r.names[0], altNames: [...r.names] }, r.certificateKey);
  return client.auto({
    csr,
    ...(r.email === undefined ? {} : { email: r.email }),
    // Configuring [acme] is agreeing to the CA's terms (RFC 8555 7.3: termsOfServiceAgreed).
    termsOfServiceAgreed: true,
    challengePriority: ['http-01'],
    // The CA's own validation is the test; a check from here would need this host's view of DNS and port 80.
    skipChallengeVerification: true,
    challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
      if (challenge.type !== 'http-01') throw new Error(`the CA offers no http-01 challenge (only ${challenge.type})`);
      const token = challenge.token;
      await new Promise<void>((resolve) => {
        waiting.set(token, resolve);
        send({ kind: 'challenge', token, keyAuthorization });
      });
    },
    challengeRemoveFn: async (_authz, challenge) => {
      if (challenge.type === 'http-01') send({ kind: 'remove', token: challenge.token });
    },
  });
}

process.on('message', (raw) => {
  const m = raw as ParentMessage;
  if (m.kind === 'ready') {
    waiting.get(m.token)?.();
    waiting.delete(m.token);
    return;
  }
  // The channel closes once the answer is written, and the process ends with it.
  const end = (): void => process.disconnect();
  order(m).then(
    (chain) => send({ kind: 'issued', chain }, end),
    (e: unknown) => send({ kind: 'failed', message: e instanceof Error ? e.message : String(e) }, end),
  );
});
