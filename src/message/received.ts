/** The Received: trace header Barge prepends to every message it accepts (RFC 5321 4.4, RFC 5322 3.6.7). */
import type { TransferMethod } from '../protocol/server-session.js';

/** RFC 3848 / RFC 6531 7.3 "with" protocol names. */
export function receivedProtocol(esmtp: boolean, utf8: boolean, tls = false, authenticated = false): string {
  if (!esmtp) return 'SMTP';
  return `${utf8 ? 'UTF8SMTP' : 'ESMTP'}${tls ? 'S' : ''}${authenticated ? 'A' : ''}`;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const p = (n: number): string => String(n).padStart(2, '0');

export function rfc5322Date(d: Date): string {
  const days = DAYS;
  const months = MONTHS;
  return `${days[d.getUTCDay()] ?? ''}, ${d.getUTCDate()} ${months[d.getUTCMonth()] ?? ''} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

export interface ReceivedFields {
  readonly helo: string;
  readonly clientIp: string;
  readonly hostname: string;
  readonly protocol: string;
  readonly method: TransferMethod;
  readonly id: string;
  /** Named in the header only when the message has a single recipient (RFC 5321 7.2 privacy). */
  readonly rcpts: readonly string[];
  readonly date: Date;
}

export function receivedHeader(f: ReceivedFields): Buffer {
  const helo = f.helo.replace(/[\r\n();]/g, '') || 'unknown';
  const forClause = f.rcpts.length === 1 ? `\r\n\tfor <${f.rcpts[0] ?? ''}>` : '';
  // TCP-info is an address literal (RFC 5321 4.4, 4.1.3): an IPv6 address needs its "IPv6:" tag.
  const literal = f.clientIp.includes(':') ? `IPv6:${f.clientIp}` : f.clientIp;
  return Buffer.from(
    `Received: from ${helo} ([${literal}])\r\n\tby ${f.hostname} (Barge) with ${f.protocol} (${f.method}) id ${f.id}${forClause};\r\n\t${rfc5322Date(f.date)}\r\n`,
    'utf8',
  );
}
