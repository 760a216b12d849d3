/**
 * The envelope as the sending side writes it, pure: MAIL FROM with SIZE (RFC 1870), BODY (RFC 6152,
 * RFC 3030 3), SMTPUTF8 (RFC 6531) and DSN's RET/ENVID (RFC 3461 4.3-4.4), RCPT TO with NOTIFY and
 * ORCPT (RFC 3461 4.1-4.2), REQUIRETLS (RFC 8689 4.2.1); the checks that need no round trip; and per-recipient outcomes.
 */
import { encodeXtext } from './command.js';
import type { BodyType } from './envelope.js';
import { replyText, type PeerReply } from './reply-parser.js';
import type { ClientMessage, PeerCapabilities, RecipientOutcome, ReplySummary } from './client-types.js';

export function summary(r: PeerReply): ReplySummary {
  const text = replyText(r);
  return { code: r.code, ...(r.enhanced === undefined ? {} : { enhanced: r.enhanced }), text, permanent: r.code >= 500 };
}

export function recipientOutcome(address: string, r: PeerReply, stage: string): RecipientOutcome {
  return {
    address,
    kind: r.code < 300 ? 'delivered' : r.code < 500 ? 'temporary' : 'permanent',
    status: r.enhanced ?? (r.code < 300 ? '2.0.0' : r.code < 500 ? '4.0.0' : '5.0.0'),
    detail: `${stage}: ${replyText(r)}`,
  };
}

/** A message the peer cannot take is refused before any command: one permanent outcome per recipient. */
export function precheck(message: ClientMessage, caps: PeerCapabilities): RecipientOutcome[] | undefined {
  const all = (status: string, detail: string): RecipientOutcome[] =>
    message.rcpts.map((r) => ({ address: r.address, kind: 'permanent', status, detail }));
  if (message.smtputf8 && !caps.keywords.has('SMTPUTF8')) return all('5.6.7', 'peer does not offer SMTPUTF8 (RFC 6531 3.4)');
  if (message.requireTls === true && !caps.keywords.has('REQUIRETLS')) {
    return all('5.7.10', 'REQUIRETLS: the peer does not offer REQUIRETLS (RFC 8689 4.2.1)');
  }
  const limit = Number(caps.keywords.get('SIZE') ?? '0');
  if (caps.keywords.has('SIZE') && limit > 0 && message.size > limit) {
    return all('5.3.4', `message of ${message.size} octets exceeds the peer's SIZE ${limit} (RFC 1870)`);
  }
  return undefined;
}

/**
 * What the content must become for this peer: sent as it is, or converted to 7-bit MIME when it is
 * binary and the path cannot carry BINARYMIME over BDAT, or 8-bit and the peer lacks 8BITMIME.
 */
export function conversionFor(body: BodyType, caps: PeerCapabilities, useBdat: boolean, allowBinarymime: boolean): string | undefined {
  const has = (k: string): boolean => caps.keywords.has(k);
  if (body === 'BINARYMIME' && !(has('BINARYMIME') && useBdat && allowBinarymime)) {
    return 'BINARYMIME converted to base64: the path offers no BINARYMIME over BDAT (RFC 3030 3)';
  }
  if (body === '8BITMIME' && !has('8BITMIME')) return '8-bit content converted to base64: the peer does not offer 8BITMIME (RFC 6152 3)';
  return undefined;
}

/** RFC 1870 allows an estimate: base64 grows content by 4/3 plus line ends. */
export function convertedSize(size: number): number {
  return Math.ceil(size * 1.4) + 1024;
}

export function mailCommand(message: ClientMessage, caps: PeerCapabilities): string {
  const has = (k: string): boolean => caps.keywords.has(k);
  const params: string[] = [];
  if (has('SIZE')) params.push(`SIZE=${message.size}`);
  if (has('8BITMIME') && message.body !== '7BIT') params.push(`BODY=${message.body}`);
  if (message.smtputf8) params.push('SMTPUTF8');
  if (message.requireTls === true) params.push('REQUIRETLS');
  if (has('DSN') && message.ret !== undefined) params.push(`RET=${message.ret}`);
  if (has('DSN') && message.envid !== undefined) params.push(`ENVID=${encodeXtext(message.envid)}`);
  return `MAIL FROM:<${message.from}>${params.map((p) => ` ${p}`).join('')}`;
}

export function rcptCommands(message: ClientMessage, caps: PeerCapabilities): string[] {
  const dsn = caps.keywords.has('DSN');
  return message.rcpts.map((r) => {
    const params: string[] = [];
    if (dsn && r.notify !== undefined) params.push(`NOTIFY=${r.notify.length === 0 ? 'NEVER' : r.notify.join(',')}`);
    if (dsn && r.orcpt !== undefined) params.push(`ORCPT=${r.orcpt.type};${encodeXtext(r.orcpt.address)}`);
    return `RCPT TO:<${r.address}>${params.map((p) => ` ${p}`).join('')}`;
  });
}
