/**
 * The server side of a TLS start on an accepted socket: after STARTTLS (RFC 3207 4) or at once on an
 * implicit TLS listener (RFC 8314 3.3). The plain socket's readers are removed first, so nothing it
 * received after STARTTLS is ever handed to the session (the session dropped the rest of that read too).
 * The certificate is chosen by the name the client sends (SNI, RFC 6066 3; see tls.ts).
 */
import type { Socket } from 'node:net';
import { type SecureContext, TLSSocket } from 'node:tls';
import type { SniCallback } from './tls.js';

/** The default context, and the choice by server name. */
export interface ServerCertificates {
  readonly context: SecureContext;
  readonly sniCallback: SniCallback;
}

/** Returns the TLS socket at once; `secured` gets it after the handshake, with its own readers free. */
export function serverTls(
  plain: Socket,
  certificates: ServerCertificates,
  handshakeTimeoutMs: number,
  secured: (secure: TLSSocket) => void,
): TLSSocket {
  plain.removeAllListeners('data');
  plain.removeAllListeners('end');
  plain.removeAllListeners('timeout');
  const secure = new TLSSocket(plain, { isServer: true, secureContext: certificates.context, SNICallback: certificates.sniCallback });
  // Not paused: a paused TLSSocket would not read the handshake either.
  secure.setTimeout(handshakeTimeoutMs);
  secure.on('timeout', () => secure.destroy());
  secure.on('error', () => secure.destroy());
  // The plain socket's 'close' ends the connection; make sure it follows the TLS socket's.
  secure.once('close', () => plain.destroy());
  // A client that leaves during the handshake: nothing to answer, so no half-open wait.
  const leftEarly = (): void => void secure.destroy();
  secure.once('end', leftEarly);
  secure.once('secure', () => {
    // From here the connection's own idle timer applies.
    secure.setTimeout(0);
    secure.removeAllListeners('timeout');
    secure.off('end', leftEarly);
    secured(secure);
  });
  return secure;
}
