/**
 * One certificate order (RFC 8555 7.4), run by a short-lived child process (order-child.ts) that
 * loads the ACME library: that library and what it pulls in (an HTTP client, two X.509 libraries)
 * add about 26 MiB to a process, needed for a minute every two months, so the server never loads
 * it. The child talks to the CA; the server answers the CA's HTTP-01 requests (challenges.ts) with
 * what the child sends over the IPC channel. The child is killed at the deadline.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ChallengeResponder } from './challenges.js';

/** What the server asks of the child. */
export interface OrderRequest {
  readonly kind: 'order';
  readonly directory: string;
  readonly email: string | undefined;
  /** The first is the certificate's subject; all are in its subjectAltName. */
  readonly names: readonly string[];
  readonly accountKey: string;
  readonly certificateKey: string;
  /** Extra PEM trust anchors for the directory's HTTPS. */
  readonly extraCa: string | undefined;
}

/** From the child: a challenge to answer (acknowledged with "ready"), to stop answering, or the result. */
export type ChildMessage =
  | { readonly kind: 'challenge'; readonly token: string; readonly keyAuthorization: string }
  | { readonly kind: 'remove'; readonly token: string }
  | { readonly kind: 'issued'; readonly chain: string }
  | { readonly kind: 'failed'; readonly message: string };

export type ParentMessage = OrderRequest | { readonly kind: 'ready'; readonly token: string };

/** Longest an order may take: the ACME library's own retries and polls are bounded well within it. */
export const ORDER_DEADLINE_MS = 10 * 60_000;

/**
 * Obtains a certificate chain (PEM, leaf first) for the request's names and key; rejects with the
 * CA's or the child's reason, at the deadline, or when `stop` is aborted (the server stops).
 */
export function orderCertificate(
  request: OrderRequest,
  responder: ChallengeResponder,
  stop: AbortSignal,
  deadlineMs = ORDER_DEADLINE_MS,
): Promise<string> {
  const script = fileURLToPath(new URL('./order-child.js', import.meta.url));
  // No inherited flags: the server's tuning (or a test runner's) is not the child's.
  const child = fork(script, [], { execArgv: [], stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'json' });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  const tokens = new Set<string>();
  return new Promise<string>((resolve, reject) => {
    let settled = false;
    const settle = (error: Error | undefined, chain?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      for (const token of tokens) responder.remove(token);
      if (child.exitCode === null) child.kill();
      if (error !== undefined || chain === undefined) reject(error ?? new Error('no certificate'));
      else resolve(chain);
    };
    const deadline = setTimeout(() => settle(new Error(`the order took longer than ${deadlineMs / 1000} s`)), deadlineMs);
    deadline.unref();
    stop.addEventListener('abort', () => settle(new Error('stopped')), { once: true });
    child.on('message', (raw) => {
      const m = raw as ChildMessage;
      switch (m.kind) {
        case 'challenge':
          try {
            responder.set(m.token, m.keyAuthorization);
            tokens.add(m.token);
            child.send({ kind: 'ready', token: m.token } satisfies ParentMessage);
          } catch (e) {
            settle(e instanceof Error ? e : new Error(String(e)));
          }
          return;
        case 'remove':
          responder.remove(m.token);
          tokens.delete(m.token);
          return;
        case 'issued':
          return settle(undefined, m.chain);
        case 'failed':
          return settle(new Error(m.message));
      }
    });
    child.once('error', (e) => settle(e));
    child.once('exit', (code, signal) =>
      settle(
        new Error(
          `the ACME process ended (${signal ?? `exit ${String(code)}`}) without a certificate${stderr === '' ? '' : `: ${stderr.trim()}`}`,
        ),
      ),
    );
    child.send(request satisfies ParentMessage);
  });
}
