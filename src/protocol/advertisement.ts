/**
 * What a listener advertises: the EHLO reply (RFC 5321 4.1.1.1) and whether STARTTLS and AUTH are
 * on offer right now. The session and the console's EHLO preview both build the reply here. Pure.
 */
import type { Reply } from './replies.js';
import type { ServerSessionOptions } from './session-types.js';

export type AdvertisementOptions = Pick<
  ServerSessionOptions,
  'hostname' | 'clientIp' | 'extensions' | 'maxMessageSize' | 'tls' | 'auth' | 'authCleartext'
>;

/** STARTTLS (RFC 3207) is offered until TLS is up, on listeners that allow or require it. */
export function offersStartTls(o: AdvertisementOptions, tls: boolean): boolean {
  return !tls && (o.tls === 'optional' || o.tls === 'required');
}

/** AUTH (RFC 4954) is offered inside TLS, or in clear text only where the listener allows it. */
export function offersAuth(o: AdvertisementOptions, tls: boolean): boolean {
  return o.auth !== 'off' && (tls || o.authCleartext);
}

/** The EHLO reply for a client that said `helo`, with TLS up or not. */
export function ehloReply(o: AdvertisementOptions, tls: boolean, helo: string): Reply {
  const lines = [`${o.hostname} Hello ${helo} [${o.clientIp}]`];
  for (const ext of o.extensions) lines.push(ext === 'SIZE' ? `SIZE ${o.maxMessageSize}` : ext);
  if (offersStartTls(o, tls)) lines.push('STARTTLS');
  // RFC 8689 4.1: REQUIRETLS is offered inside TLS only.
  if (tls) lines.push('REQUIRETLS');
  if (offersAuth(o, tls)) lines.push('AUTH PLAIN LOGIN');
  return { code: 250, lines };
}
