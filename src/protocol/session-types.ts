/**
 * What the server session and its shell exchange: the options a listener gives a session, the
 * actions the session returns, and the typed account of which command each reply answers (from
 * which the shell derives its protocol-log record). Types only.
 */
import type { Transaction } from './envelope.js';
import type { Extension } from './extensions.js';
import type { Reply } from './replies.js';
import type { SaslMechanism } from './sasl.js';

export type TransferMethod = 'DATA' | 'BDAT';

export interface ReceivedMessage {
  readonly transaction: Transaction;
  readonly method: TransferMethod;
  /** BDAT commands that carried this message (0 for DATA). */
  readonly chunks: number;
  /** Octets of message content received (after DATA un-stuffing). */
  readonly size: number;
}

/**
 * What a reply answers, as the session understood it. Replies that answer no command (the greeting,
 * SASL challenges, refused command lines, the close after too many errors) carry none.
 */
export type Answered =
  /** A command line read whole: its upper-cased verb and its arguments as sent. */
  | { readonly kind: 'command'; readonly verb: string; readonly args: string }
  /** A command line over the length limit (RFC 5321 4.5.3.1.4): its verb only. */
  | { readonly kind: 'too-long'; readonly verb: string }
  /** AUTH: the mechanism only; the initial response and the SASL lines carry the secret (RFC 4954 4). */
  | { readonly kind: 'auth'; readonly mechanism: string }
  /**
   * The end of a message: DATA's terminator, or the last BDAT chunk with its arguments. `queued` is
   * the spool id the shell gave when the message was made durable.
   */
  | { readonly kind: 'message'; readonly method: TransferMethod; readonly args: string; readonly queued?: string };

export type SessionAction =
  | { readonly kind: 'send'; readonly text: string; readonly code: number; readonly answered?: Answered }
  | { readonly kind: 'begin'; readonly transaction: Transaction; readonly method: TransferMethod }
  | { readonly kind: 'body'; readonly bytes: Buffer }
  | { readonly kind: 'discard'; readonly reason?: string }
  | { readonly kind: 'commit'; readonly message: ReceivedMessage }
  | { readonly kind: 'etrn'; readonly domain: string }
  | { readonly kind: 'starttls' }
  | { readonly kind: 'auth'; readonly mechanism: SaslMechanism; readonly user: string; readonly password: string }
  | { readonly kind: 'close' };

/** STARTTLS offered or not, required before MAIL, or TLS from the first byte (RFC 8314 port 465). */
export type TlsPolicy = 'off' | 'optional' | 'required' | 'implicit';
export type AuthPolicy = 'off' | 'optional' | 'required';

export type RecipientVerdict = { readonly accept: 'local' | 'relay' } | { readonly refuse: Reply };

export interface ServerSessionOptions {
  readonly hostname: string;
  readonly clientIp: string;
  readonly extensions: ReadonlySet<Extension>;
  readonly maxMessageSize: number;
  readonly maxRecipients: number;
  readonly maxErrors: number;
  /**
   * Most Received: fields a message may carry, counting the one the shell prepends (as Postfix's
   * hopcount_limit counts its own); more is a mail loop: 554 5.4.6 at the end of the body.
   */
  readonly maxHops: number;
  /** NOOP, RSET, VRFY, ETRN, HELP, HELO and EHLO allowed per session (Postfix's smtpd_junk_command_limit), then 421. */
  readonly maxJunkCommands: number;
  /** Recipients past maxRecipients (each 452) before each further one counts towards maxErrors (Postfix's overshoot limit). */
  readonly maxRecipientOvershoot: number;
  /** Where `RCPT TO:<Postmaster>` (no domain, RFC 5321 4.5.1) goes: the primary local domain's postmaster. */
  readonly postmaster: string;
  /** ETRN (RFC 1985) for a node: undefined to start the run, or the refusal (458: not allowed, too soon). */
  readonly etrnPolicy: (node: string, user: string | undefined) => Reply | undefined;
  readonly normaliseBareLineEndings: boolean;
  readonly vrfy: 'cannot' | 'off';
  readonly expn: boolean;
  readonly tls: TlsPolicy;
  /** AUTH offered (after EHLO), or required before MAIL. */
  readonly auth: AuthPolicy;
  /** Offer AUTH without TLS; off by default, as passwords would cross the network in clear text. */
  readonly authCleartext: boolean;
  /** Decides each RCPT for the (possibly authenticated) session: local, relay, or a refusal (550 5.1.1, 554 5.7.1). */
  readonly checkRecipient: (address: string, user: string | undefined) => RecipientVerdict;
  /** Submission listeners: may this authenticated user send as this address? */
  readonly checkSender?: (user: string, address: string) => boolean;
}
