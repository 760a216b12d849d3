/** The protocol core's options for one inbound session, from the config and its listener. */
import type { ServerSessionOptions, TlsPolicy } from '../protocol/session-types.js';
import type { ConnectionContext } from './connection-context.js';

export function sessionOptions(ctx: ConnectionContext, clientIp: string, tls: TlsPolicy): ServerSessionOptions {
  const { limits } = ctx.config;
  const { listener } = ctx;
  return {
    hostname: ctx.config.hostname,
    clientIp,
    extensions: listener.extensions,
    maxMessageSize: limits.maxMessageSize,
    maxRecipients: limits.maxRecipients,
    maxErrors: limits.maxErrors,
    maxHops: limits.maxHops,
    maxJunkCommands: limits.maxJunkCommands,
    maxRecipientOvershoot: limits.maxRecipientOvershoot,
    postmaster: `postmaster@${ctx.config.localDomains[0] ?? ctx.config.hostname}`,
    etrnPolicy: ctx.etrnPolicy(clientIp),
    normaliseBareLineEndings: ctx.config.smuggling === 'normalise',
    vrfy: listener.vrfy,
    expn: listener.expn,
    checkRecipient: ctx.checkRecipient(clientIp),
    tls,
    auth: listener.auth,
    authCleartext: listener.authCleartext,
    ...(listener.senderLogin ? { checkSender: ctx.mayUseSender } : {}),
  };
}
