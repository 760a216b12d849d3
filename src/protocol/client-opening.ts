/**
 * The opening of a client connection, pure: the connection-level steps (one reply awaited at a
 * time: nothing is pipelined before MAIL) and the choices between them after EHLO or HELO:
 * STARTTLS when offered and allowed (RFC 3207), then AUTH when configured (RFC 4954), then ready.
 */
import { type AuthStep, startAuth } from './client-auth.js';
import type { ClientSessionOptions, PeerCapabilities, Stage, TlsInfo } from './client-types.js';
import type { PeerReply } from './reply-parser.js';

export type Step = 'greeting' | 'ehlo' | 'helo' | 'starttls' | AuthStep | 'rset' | 'quit' | 'ask';

/** What the session does next: send a command and await its reply, become ready, or give up. */
export type OpeningMove =
  | { readonly kind: 'command'; readonly step: Step; readonly line: string; readonly log?: string }
  | { readonly kind: 'ready' }
  | { readonly kind: 'local'; readonly stage: Stage; readonly reason: string };

/** After EHLO or HELO succeeded; `tls` is set once the connection is encrypted. */
export function afterHello(caps: PeerCapabilities, tls: TlsInfo | undefined, options: ClientSessionOptions): OpeningMove {
  if (tls !== undefined || options.tls === 'none') return authOrReady(caps, tls, options);
  if (!caps.keywords.has('STARTTLS')) {
    if (options.tls !== 'required') return authOrReady(caps, tls, options);
    return { kind: 'local', stage: 'STARTTLS', reason: 'TLS is required for this route but the peer does not offer STARTTLS' };
  }
  return { kind: 'command', step: 'starttls', line: 'STARTTLS' };
}

/** AUTH when credentials are configured (client-auth.ts decides whether they may be sent), else ready. */
export function authOrReady(caps: PeerCapabilities, tls: TlsInfo | undefined, options: ClientSessionOptions): OpeningMove {
  const auth = options.auth;
  if (auth === undefined) return { kind: 'ready' };
  const first = startAuth(auth, caps, tls, options.authTls);
  if ('reason' in first) return { kind: 'local', stage: 'AUTH', reason: first.reason };
  return { kind: 'command', step: first.step, line: first.line, log: first.log };
}

/** The name the peer gives itself first in its EHLO or HELO reply (RFC 5321 4.1.1.1). */
export function peerName(r: PeerReply): string {
  return (r.lines[0] ?? '').trim().split(/\s+/)[0] ?? '';
}

/** The stage a connection-level reply belongs to, for outcomes; `asked` is the stage of a scripted command. */
export function stageOf(step: Step | undefined, asked: Stage): Stage {
  if (step === undefined || step === 'greeting') return 'greeting';
  if (step === 'ask') return asked;
  return step.startsWith('auth') ? 'AUTH' : (step.toUpperCase() as Stage);
}
