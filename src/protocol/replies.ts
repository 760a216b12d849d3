/**
 * The reply table: every reply the server sends, with its basic code (RFC 5321 4.2),
 * enhanced status code (RFC 3463, sent when ENHANCEDSTATUSCODES is on, RFC 2034) and text.
 * A raw reply code appears nowhere else in the server.
 */
export interface Reply {
  readonly code: number;
  /** "x.y.z"; omitted for replies that never carry one (220 greeting, EHLO, 354). */
  readonly enhanced?: string;
  readonly lines: readonly string[];
}

export function reply(code: number, enhanced: string | undefined, ...lines: string[]): Reply {
  return enhanced === undefined ? { code, lines } : { code, enhanced, lines };
}

/** Renders a reply as wire text: continuation lines use "code-" and the last "code " (RFC 5321 4.2.1). */
export function formatReply(r: Reply, withEnhanced: boolean): string {
  const prefix = withEnhanced && r.enhanced !== undefined ? `${r.enhanced} ` : '';
  // Nearly every reply is one line (a few per message): no array walk for it.
  if (r.lines.length === 1) return `${r.code} ${prefix}${r.lines[0] ?? ''}\r\n`;
  const lines = r.lines.length === 0 ? [''] : r.lines;
  let out = '';
  lines.forEach((line, i) => {
    out += `${r.code}${i === lines.length - 1 ? ' ' : '-'}${prefix}${line}\r\n`;
  });
  return out;
}

export const Reply = {
  greeting: (host: string) => reply(220, undefined, `${host} ESMTP Barge ready`),
  ok: (text = 'OK') => reply(250, '2.0.0', text),
  senderOk: () => reply(250, '2.1.0', 'Sender OK'),
  recipientOk: () => reply(250, '2.1.5', 'Recipient OK'),
  reset: () => reply(250, '2.0.0', 'Reset'),
  queued: (id: string) => reply(250, '2.0.0', `OK queued as ${id}`),
  chunkOk: (octets: number) => reply(250, '2.0.0', `${octets} octets received`),
  bye: () => reply(221, '2.0.0', 'Bye'),
  startData: () => reply(354, undefined, 'End data with <CR><LF>.<CR><LF>'),
  help: () => reply(214, '2.0.0', 'Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP ETRN', 'See RFC 5321 and RFC 3030'),
  vrfyCannot: () => reply(252, '2.5.0', 'Cannot VRFY user, but will accept message and attempt delivery'),
  tlsReady: () => reply(220, '2.0.0', 'Ready to start TLS'),
  authenticated: () => reply(235, '2.7.0', 'Authentication successful'),
  authChallenge: (text: string) => reply(334, undefined, text),
  etrnStarted: (node: string) => reply(250, '2.0.0', `Queuing for node ${node} started`),

  shuttingDown: () => reply(421, '4.3.2', 'Service shutting down, closing transmission channel'),
  tooManyErrors: () => reply(421, '4.7.0', 'Too many errors, closing transmission channel'),
  tooManyConnections: () => reply(421, '4.7.0', 'Too many connections, try again later'),
  tooManyJunkCommands: () => reply(421, '4.7.0', 'Too many NOOP/RSET/VRFY/ETRN/HELP commands, closing transmission channel'),
  timeout: () => reply(421, '4.4.2', 'Idle timeout, closing transmission channel'),
  internalError: () => reply(421, '4.3.0', 'Internal error, closing transmission channel'),
  tlsUnavailable: () => reply(454, '4.7.0', 'TLS not available due to temporary reason'),
  authRateLimited: () => reply(454, '4.7.0', 'Too many failed authentication attempts from your address; try again later'),
  authUnavailable: () => reply(454, '4.7.0', 'Temporary authentication failure'),
  etrnDenied: () => reply(458, '4.7.1', 'ETRN is accepted only from relay networks or authenticated clients'),
  etrnTooSoon: (node: string) => reply(458, '4.7.0', `Unable to queue messages for node ${node} again so soon; try later`),
  storageFailed: () => reply(452, '4.3.1', 'Insufficient system storage, message not accepted'),
  tooManyRecipients: (max: number) => reply(452, '4.5.3', `Too many recipients (at most ${max})`),

  unknownCommand: () => reply(500, '5.5.1', 'Command unrecognized'),
  commandTooLong: () => reply(500, '5.5.2', 'Command line too long (at most 512 octets)'),
  bareLfInCommand: () => reply(500, '5.5.2', 'Command line refused: bare LF (only CRLF ends a line, RFC 5321 2.3.8)'),
  syntax: (text: string) => reply(501, '5.5.2', `Syntax error: ${text}`),
  badArgument: (text: string) => reply(501, '5.5.4', `Invalid argument: ${text}`),
  badAddress: (text: string) => reply(501, '5.1.7', `Bad address syntax: ${text}`),
  badRecipientAddress: (text: string) => reply(501, '5.1.3', `Bad destination address syntax: ${text}`),
  notImplemented: () => reply(502, '5.5.1', 'Command not implemented'),
  badSequence: (text: string) => reply(503, '5.5.1', `Bad sequence of commands: ${text}`),
  badParameter: (text: string) => reply(555, '5.5.4', `Unsupported parameter: ${text}`),
  tlsRequired: () => reply(530, '5.7.0', 'Must issue a STARTTLS command first'),
  authRequired: () => reply(530, '5.7.0', 'Authentication required'),
  authFailed: () => reply(535, '5.7.8', 'Authentication credentials invalid'),
  authCancelled: () => reply(501, '5.0.0', 'Authentication cancelled'),
  authBadEncoding: () => reply(501, '5.5.2', 'Cannot decode the authentication response (base64 expected)'),
  authMechanism: () => reply(504, '5.5.4', 'Unrecognized authentication type (PLAIN and LOGIN are offered)'),
  authNeedsEncryption: () => reply(538, '5.7.11', 'Encryption required for requested authentication mechanism'),
  senderNotOwned: (address: string) => reply(553, '5.7.1', `Sender address <${address}> is not owned by the authenticated user`),
  noSuchUser: () => reply(550, '5.1.1', 'No such user here'),
  relayDenied: () => reply(554, '5.7.1', 'Relay access denied'),
  utf8Required: () => reply(553, '5.6.7', 'Non-ASCII address requires the SMTPUTF8 parameter (RFC 6531)'),
  sizeDeclaredTooBig: (max: number) => reply(552, '5.3.4', `Message size exceeds fixed maximum message size (${max} octets)`),
  sizeExceeded: (max: number) => reply(552, '5.3.4', `Message size exceeds fixed maximum message size (${max} octets); message discarded`),
  /** Exim's header_maxsize answers the same way (552); RFC 3463 X.3.4 "message too big for system". */
  headerTooLarge: (max: number) => reply(552, '5.3.4', `Message header section exceeds ${max} octets; message discarded`),
  bareLineEnding: () =>
    reply(550, '5.6.0', 'Message refused: bare CR or LF in DATA (only CRLF line endings are accepted, see RFC 5321 2.3.8)'),
  lineTooLong: () => reply(550, '5.6.0', 'Message refused: a text line exceeds 1000 octets (RFC 5321 4.5.3.1.6)'),
  noValidRecipients: () => reply(554, '5.5.1', 'No valid recipients'),
  /** RFC 8689 5: 5.7.10 "REQUIRETLS support required". */
  requireTlsNeedsTls: () => reply(530, '5.7.10', 'REQUIRETLS needs a TLS session (STARTTLS first)'),
  /** RFC 7489 7.3 suggests 5.7.1 for a DMARC p=reject failure. */
  dmarcRejected: (domain: string) =>
    reply(550, '5.7.1', `Message refused: DMARC policy of ${domain} is reject and the message failed authentication`),
  /** RFC 7372 3.2: 5.7.23 "SPF validation failed". */
  spfFailed: (domain: string) => reply(550, '5.7.23', `Message refused: SPF of ${domain} does not permit this sender`),
  /** RFC 5321 6.3 (loop detection); RFC 3463 X.4.6 "routing loop detected". */
  tooManyHops: (hops: number, max: number) =>
    reply(554, '5.4.6', `Too many hops: ${hops} Received: fields (at most ${max}); message discarded`),
} as const;
