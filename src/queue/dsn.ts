/**
 * Delivery status notifications (RFC 3464, RFC 3461), pure: a multipart/report with a human part,
 * a message/delivery-status part and the original headers (or the whole message with RET=FULL).
 * Sent from MAILER-DAEMON with Auto-Submitted (RFC 3834); the caller sends it from the null sender.
 */
import type { SpoolEnvelope } from './spool.js';
import { rfc5322Date } from '../message/received.js';

export type DsnAction = 'failed' | 'delayed' | 'delivered' | 'relayed' | 'expanded';

export interface DsnRecipient {
  readonly address: string;
  /** "rfc822;bob@example.com" as the client gave it in ORCPT. */
  readonly orcpt?: string;
  readonly action: DsnAction;
  readonly status: string;
  readonly remoteMta?: string;
  readonly diagnostic?: string;
  readonly lastAttempt?: Date;
  readonly willRetryUntil?: Date;
}

export interface DsnInput {
  readonly reportingMta: string;
  readonly envelope: SpoolEnvelope;
  readonly recipients: readonly DsnRecipient[];
  /** The original header section, or the whole message when `returnFull`. */
  readonly original: Buffer;
  readonly returnFull: boolean;
  readonly now: Date;
  readonly boundary?: string;
}

const CONDITION: Readonly<Record<DsnAction, string>> = {
  failed: 'FAILURE',
  delayed: 'DELAY',
  delivered: 'SUCCESS',
  relayed: 'SUCCESS',
  expanded: 'SUCCESS',
};

/**
 * RFC 3461 4.1: NOTIFY=NEVER asks for nothing; without NOTIFY, failures (and delays) are reported
 * but successes are not. The null sender never gets a DSN (RFC 5321 4.5.5).
 */
export function wantsDsn(from: string, notify: readonly string[] | undefined, action: DsnAction): boolean {
  if (from === '') return false;
  if (notify === undefined) return action === 'failed' || action === 'delayed';
  return notify.includes(CONDITION[action]);
}

/** One header-safe line: no CR, LF or other controls, so a peer's reply text cannot add fields. */
function clean(text: string): string {
  return text.replace(/[\p{Cc}]+/gu, ' ').trim();
}

/** Wraps text at spaces so no line exceeds 78 characters (RFC 5322 2.1.1 recommends 78, requires 998). */
function wrap(text: string, indent = ''): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > 78) {
      out.push(line);
      line = indent + word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  out.push(line);
  // A single word longer than the limit is cut hard at 998.
  return out.flatMap((l) => (l.length <= 998 ? [l] : (l.match(/.{1,998}/g) ?? [])));
}

/** A structured field, folded at spaces with a leading tab on continuation lines. */
function field(name: string, value: string): string {
  return wrap(`${name}: ${clean(value)}`, '\t').join('\r\n');
}

const SUBJECT: Readonly<Record<DsnAction, string>> = {
  failed: 'Undelivered Mail Returned to Sender',
  delayed: 'Delayed Mail (still being retried)',
  delivered: 'Successful Mail Delivery Report',
  relayed: 'Successful Mail Delivery Report',
  expanded: 'Successful Mail Delivery Report',
};

const EXPLANATION: Readonly<Record<DsnAction, string>> = {
  failed: 'Your message could not be delivered to one or more recipients. This is a permanent error; it will not be retried.',
  delayed:
    'Your message has not been delivered yet to one or more recipients. It is still being retried; you will be told if it finally fails.',
  delivered: 'Your message was delivered to the recipients listed below.',
  relayed: 'Your message was handed on to the next mail server for the recipients listed below; that server may not send further reports.',
  expanded: 'Your message was delivered to a list for the recipients below.',
};

export function buildDsn(input: DsnInput): Buffer {
  const { envelope, recipients, now } = input;
  const action = recipients[0]?.action ?? 'failed';
  const boundary = input.boundary ?? `${envelope.id}/${input.reportingMta}/${now.getTime().toString(36)}`;
  const to = envelope.transaction.from;

  const human = [
    `This is the mail system at ${input.reportingMta}.`,
    '',
    ...wrap(EXPLANATION[action]),
    '',
    ...recipients.flatMap((r) => wrap(`<${clean(r.address)}>: ${clean(r.diagnostic ?? r.status)}`, '    ')),
  ];

  const perMessage = [
    field('Reporting-MTA', `dns; ${input.reportingMta}`),
    ...(envelope.transaction.envid === undefined ? [] : [field('Original-Envelope-Id', envelope.transaction.envid)]),
    field('X-Barge-Queue-ID', envelope.id),
    field('Arrival-Date', rfc5322Date(new Date(envelope.receivedAt))),
  ];
  const perRecipient = recipients.map((r) =>
    [
      ...(r.orcpt === undefined ? [] : [field('Original-Recipient', r.orcpt)]),
      field('Final-Recipient', `rfc822; ${r.address}`),
      field('Action', r.action),
      field('Status', r.status),
      ...(r.remoteMta === undefined ? [] : [field('Remote-MTA', r.remoteMta)]),
      ...(r.diagnostic === undefined ? [] : [field('Diagnostic-Code', r.diagnostic)]),
      ...(r.lastAttempt === undefined ? [] : [field('Last-Attempt-Date', rfc5322Date(r.lastAttempt))]),
      ...(r.willRetryUntil === undefined ? [] : [field('Will-Retry-Until', rfc5322Date(r.willRetryUntil))]),
    ].join('\r\n'),
  );

  const originalType = input.returnFull ? 'message/rfc822' : 'text/rfc822-headers';
  const body = envelope.transaction.body;
  const encoding = !input.returnFull
    ? ''
    : body === 'BINARYMIME'
      ? 'Content-Transfer-Encoding: binary\r\n'
      : body === '8BITMIME'
        ? 'Content-Transfer-Encoding: 8bit\r\n'
        : '';
  const head = [
    `From: Mail Delivery System <MAILER-DAEMON@${input.reportingMta}>`,
    `To: <${clean(to)}>`,
    `Subject: ${SUBJECT[action]}`,
    `Date: ${rfc5322Date(now)}`,
    `Message-ID: <${envelope.id}.${now.getTime().toString(36)}.dsn@${input.reportingMta}>`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary="${boundary}"`,
    '',
    'This is a MIME-encapsulated message.',
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=us-ascii',
    'Content-Description: Notification',
    '',
    ...human,
    '',
    `--${boundary}`,
    'Content-Type: message/delivery-status',
    'Content-Description: Delivery report',
    '',
    perMessage.join('\r\n'),
    '',
    perRecipient.join('\r\n\r\n'),
    '',
    `--${boundary}`,
    `Content-Type: ${originalType}`,
    `Content-Description: ${input.returnFull ? 'Undelivered message' : 'Headers of the message'}`,
  ].join('\r\n');
  const original =
    input.original.length > 0 && !input.original.subarray(-2).equals(Buffer.from('\r\n'))
      ? Buffer.concat([input.original, Buffer.from('\r\n')])
      : input.original;
  return Buffer.concat([Buffer.from(`${head}\r\n${encoding}\r\n`, 'utf8'), original, Buffer.from(`\r\n--${boundary}--\r\n`)]);
}
