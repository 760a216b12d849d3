/**
 * Secures a fresh outbound session before any transaction: STARTTLS when the peer offers it and the
 * route's policy allows (RFC 3207; opportunistic per RFC 7435 does not check the certificate,
 * "required" does), then EHLO again (RFC 3207 4.2), then AUTH PLAIN or LOGIN with the route's
 * credentials (RFC 4954), which are only ever sent over TLS and never written to a log. By default
 * that TLS must have a verified certificate for the hop's name (`authTls` "verified"): opportunistic
 * TLS with an unchecked certificate cannot tell the smart host from a machine in the middle.
 */
import type { ClientConnection } from './connection.js';
import { SmtpFailure } from './connection.js';
import type { PeerReply } from '../protocol/reply-parser.js';
import { hello, PeerRefused, type PeerCapabilities } from './transfer.js';

export type OutboundTls = 'opportunistic' | 'required' | 'none';

export interface SessionSecurity {
  readonly tls: OutboundTls;
  /** The name the certificate must carry (the MX or smart host name). */
  readonly servername: string;
  readonly auth?: { readonly username: string; readonly password: string } | undefined;
  /** Send credentials only when the certificate verified ("verified", the default), or over any TLS ("any"). */
  readonly authTls?: 'verified' | 'any' | undefined;
  /** Trust anchors for "required" instead of the system's (a private CA). */
  readonly ca?: readonly string[] | undefined;
  /** An earlier handshake with this peer failed: opportunistic TLS is skipped (clear text). */
  readonly skipTls?: boolean;
}

/** The handshake failed under the opportunistic policy: the caller may retry in clear text. */
export class TlsHandshakeFailed extends Error {}

export async function secureSession(conn: ClientConnection, caps: PeerCapabilities, heloName: string, security: SessionSecurity): Promise<PeerCapabilities> {
  let current = caps;
  const offered = caps.keywords.has('STARTTLS');
  if (security.tls === 'required' && !offered) throw new SmtpFailure('STARTTLS', 'TLS is required for this route but the peer does not offer STARTTLS');
  if (offered && security.tls !== 'none' && !(security.skipTls === true && security.tls === 'opportunistic')) {
    const r = await conn.command('STARTTLS');
    if (r.code !== 220) {
      if (security.tls === 'required') throw new PeerRefused('STARTTLS', r);
    } else {
      try {
        await conn.startTls(security.servername, security.tls === 'required', security.ca);
      } catch (e) {
        if (security.tls === 'required') throw e;
        throw new TlsHandshakeFailed(e instanceof Error ? e.message : String(e));
      }
      current = await hello(conn, heloName, caps.greeting);
    }
  }
  if (security.auth !== undefined) await authenticate(conn, current, security.auth, security.authTls ?? 'verified');
  return current;
}

async function authenticate(conn: ClientConnection, caps: PeerCapabilities, auth: { readonly username: string; readonly password: string }, authTls: 'verified' | 'any'): Promise<void> {
  if (conn.tls === undefined) throw new SmtpFailure('AUTH', 'credentials are configured but the session is not encrypted; AUTH not sent');
  if (authTls === 'verified' && !conn.tls.authorized) {
    const why = conn.tls.authorizationError ?? 'not verified';
    throw new SmtpFailure('AUTH', `credentials are configured but the peer's certificate is not verified (${why}); AUTH not sent (auth_tls = "any" allows it)`);
  }
  const mechanisms = (caps.keywords.get('AUTH') ?? '').toUpperCase().split(/\s+/);
  const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
  let r: PeerReply;
  if (mechanisms.includes('PLAIN')) {
    conn.logCommand('AUTH PLAIN ****');
    await conn.write(Buffer.from(`AUTH PLAIN ${b64(`\0${auth.username}\0${auth.password}`)}\r\n`));
    r = await conn.reply('AUTH');
  } else if (mechanisms.includes('LOGIN')) {
    r = await conn.command('AUTH LOGIN', 'AUTH');
    if (r.code === 334) {
      conn.logCommand('****');
      await conn.write(Buffer.from(`${b64(auth.username)}\r\n`));
      r = await conn.reply('AUTH');
    }
    if (r.code === 334) {
      conn.logCommand('****');
      await conn.write(Buffer.from(`${b64(auth.password)}\r\n`));
      r = await conn.reply('AUTH');
    }
  } else {
    throw new SmtpFailure('AUTH', 'credentials are configured but the peer offers neither AUTH PLAIN nor AUTH LOGIN');
  }
  if (r.code !== 235) throw new PeerRefused('AUTH', r);
}
