/**
 * AUTH from the sending side (RFC 4954), pure: PLAIN (RFC 4616) or LOGIN, chosen from the peer's
 * EHLO; credentials only over TLS (RFC 4954 4: a client must not send them in the clear), and with
 * `authTls` "verified" only when the certificate verified. Secrets never reach the protocol log.
 */
import type { PeerCapabilities, TlsInfo } from './client-types.js';

export type AuthStep = 'auth-plain' | 'auth-login' | 'auth-user' | 'auth-pass';

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/** A line to send, the step whose reply it awaits, and what the log shows of it. */
export interface AuthCommand {
  readonly step: AuthStep;
  readonly line: string;
  readonly log: string;
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

/** The first AUTH command, or why the credentials are not sent. */
export function startAuth(
  auth: Credentials,
  caps: PeerCapabilities,
  tls: TlsInfo | undefined,
  authTls: 'verified' | 'any' | undefined,
): AuthCommand | { readonly reason: string } {
  if (tls === undefined) return { reason: 'credentials are configured but the session is not encrypted; AUTH not sent' };
  if (authTls === 'verified' && !tls.authorized) {
    const why = tls.authorizationError ?? 'not verified';
    return {
      reason: `credentials are configured but the peer's certificate is not verified (${why}); AUTH not sent (auth_tls = "any" allows it)`,
    };
  }
  const mechanisms = (caps.keywords.get('AUTH') ?? '').toUpperCase().split(/\s+/);
  if (mechanisms.includes('PLAIN')) {
    return { step: 'auth-plain', line: `AUTH PLAIN ${b64(`\0${auth.username}\0${auth.password}`)}`, log: 'AUTH PLAIN ****' };
  }
  if (mechanisms.includes('LOGIN')) return { step: 'auth-login', line: 'AUTH LOGIN', log: 'AUTH LOGIN' };
  return { reason: 'credentials are configured but the peer offers neither AUTH PLAIN nor AUTH LOGIN' };
}

/** After the reply to an AUTH step: authenticated (235), refused, or LOGIN's next secret (334). */
export function nextAuth(step: AuthStep, code: number, auth: Credentials): 'ready' | 'refused' | AuthCommand {
  if (code === 235) return 'ready';
  if (code !== 334 || step === 'auth-plain' || step === 'auth-pass') return 'refused';
  return step === 'auth-login'
    ? { step: 'auth-user', line: b64(auth.username), log: '****' }
    : { step: 'auth-pass', line: b64(auth.password), log: '****' };
}
