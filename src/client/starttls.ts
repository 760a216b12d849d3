/**
 * The TLS upgrade of an outbound connection after the peer's 220 to STARTTLS (RFC 3207 4): SNI for a
 * host name only (RFC 6066 3), the certificate checked against `servername` even when not required
 * (opportunistic TLS, RFC 7435, goes on without it, but credentials may need it verified).
 */
import { isIP, type Socket } from 'node:net';
import { checkServerIdentity, connect as tlsConnect, type TLSSocket } from 'node:tls';

/** What the STARTTLS handshake gave. */
export interface TlsDetails {
  readonly protocol: string;
  readonly cipher: string;
  readonly authorized: boolean;
  readonly authorizationError?: string;
  /** Whether the certificate names `servername` (RFC 6125), whether or not its chain verified. */
  readonly nameMatches: boolean;
}

export interface UpgradeOptions {
  readonly servername: string;
  /** Reject a certificate that does not verify (required TLS). */
  readonly verify: boolean;
  /** Trust anchors instead of the system's. */
  readonly ca?: readonly string[] | undefined;
}

/** Calls `done` once: with the secure socket and what it gave, or with why the handshake failed. */
export function upgrade(
  plain: Socket,
  o: UpgradeOptions,
  done: (result: { readonly socket: TLSSocket; readonly details: TlsDetails } | { readonly error: string }) => void,
): void {
  const { servername } = o;
  const secure = tlsConnect({
    socket: plain,
    ...(isIP(servername) === 0 ? { servername } : {}),
    ...(o.ca === undefined ? {} : { ca: [...o.ca] }),
    rejectUnauthorized: o.verify,
    checkServerIdentity: (_host, cert) => checkServerIdentity(servername, cert),
  });
  const fail = (e: Error): void => {
    secure.destroy();
    done({ error: e.message });
  };
  secure.once('error', fail);
  secure.once('secureConnect', () => {
    secure.off('error', fail);
    const error: unknown = secure.authorizationError;
    const why = error === null || error === undefined ? {} : { authorizationError: error instanceof Error ? error.message : String(error) };
    const protocol = secure.getProtocol() ?? 'unknown';
    const details = {
      protocol,
      cipher: secure.getCipher().name,
      authorized: secure.authorized,
      ...why,
      nameMatches: checkServerIdentity(servername, secure.getPeerCertificate()) === undefined,
    };
    done({ socket: secure, details });
  });
}
