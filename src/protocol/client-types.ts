/**
 * The shapes of the client session (client-session.ts): what it is told, what it asks the socket
 * shell to do, and the typed outcomes it reports. A peer's behaviour is always an outcome here,
 * never an exception.
 */
import type { BodyType, Recipient } from './envelope.js';

/** What the peer said in its greeting and EHLO (or HELO) reply. */
export interface PeerCapabilities {
  readonly esmtp: boolean;
  /** EHLO keywords (upper case) and their parameters. */
  readonly keywords: ReadonlyMap<string, string>;
  readonly greeting: string;
  /** The name the peer gave itself in its EHLO or HELO reply (loop detection). */
  readonly name?: string;
}

/** One message as the transaction needs it; the content comes separately, chunk by chunk. */
export interface ClientMessage {
  readonly from: string;
  readonly rcpts: readonly Recipient[];
  readonly body: BodyType;
  readonly smtputf8: boolean;
  readonly ret?: 'FULL' | 'HDRS';
  readonly envid?: string;
  /** RFC 8689 REQUIRETLS: sent only to a peer offering it (the delivery sees to verified TLS). */
  readonly requireTls?: boolean;
  /** Octets of content as stored. */
  readonly size: number;
}

export interface TransactionOptions {
  /** Outbound options allow BDAT (mask bit 0x2 and the route's chunking switch). */
  readonly allowBdat: boolean;
  readonly allowPipelining: boolean;
  readonly allowBinarymime: boolean;
  /** Octets per BDAT chunk (adaptive: decisions.ts may raise it for a tarpitting path). */
  readonly chunkSize: number;
  /**
   * Send a first non-final chunk of this many octets and wait for its reply (class 'bdat-check')
   * before the rest: a path that swallows BDAT shows itself in seconds, not at end-of-data.
   * Omitted: no health check.
   */
  readonly bdatCheckBytes?: number;
}

export interface ClientSessionOptions {
  readonly heloName: string;
  /** 'none' never sends STARTTLS; 'opportunistic' uses it when offered; 'required' fails without it. */
  readonly tls: 'none' | 'opportunistic' | 'required';
  readonly auth?: { readonly username: string; readonly password: string };
  /** Send credentials only over TLS whose certificate verified ('verified'), or over any TLS ('any', the default here). */
  readonly authTls?: 'verified' | 'any';
}

/** What the shell's TLS handshake gave: whether the certificate verified, and why not. */
export interface TlsInfo {
  readonly authorized: boolean;
  readonly authorizationError?: string;
}

/**
 * How long the shell may wait for the reply being awaited depends on what it answers: a greeting
 * or a command (minutes in RFC 5321 4.5.3.2), a health-check chunk (seconds: a receiver answers a
 * non-final chunk as soon as it has read it), another non-final chunk, or the end of data (10
 * minutes: content scanning may run then).
 */
export type ReplyClass = 'greeting' | 'command' | 'bdat-check' | 'bdat-chunk' | 'end-of-data';

export type Stage = 'greeting' | 'EHLO' | 'HELO' | 'STARTTLS' | 'AUTH' | 'MAIL' | 'RCPT' | 'DATA' | 'BDAT' | 'RSET' | 'QUIT';

export interface RecipientOutcome {
  readonly address: string;
  readonly kind: 'delivered' | 'temporary' | 'permanent';
  /** Enhanced status for DSNs: the peer's, or one derived from the code. */
  readonly status: string;
  readonly detail: string;
}

/** The peer's reply, flattened for outcomes and logs. */
export interface ReplySummary {
  readonly code: number;
  readonly enhanced?: string;
  readonly text: string;
  /** 5xx: do not retry this as it is. */
  readonly permanent: boolean;
}

export type ClientOutcome =
  /** Greeted, EHLO'd, secured and authenticated as asked: transactions may start. */
  | { readonly kind: 'ready'; readonly caps: PeerCapabilities; readonly tls: boolean }
  /** The reply to one command sent by `ask` (a scripted step, as `barge probe` takes them), whatever its code. */
  | ({ readonly kind: 'answer'; readonly stage: Stage } & ReplySummary)
  /** The content was accepted for at least one recipient; the others carry their RCPT refusal. */
  | {
      readonly kind: 'delivered';
      readonly method: 'DATA' | 'BDAT';
      readonly chunks: number;
      readonly converted?: string;
      readonly recipients: readonly RecipientOutcome[];
    }
  /** The peer refused: the session (greeting, EHLO, AUTH...) or the transaction (MAIL, every RCPT, content). */
  | ({ readonly kind: 'rejected'; readonly stage: Stage; readonly recipients: readonly RecipientOutcome[] } & ReplySummary)
  /** Nothing was sent: the peer cannot take this message (no SMTPUTF8, over its SIZE). */
  | { readonly kind: 'unsendable'; readonly recipients: readonly RecipientOutcome[] }
  /** BDAT failed in a way that points at the path, not the message; nothing was accepted. */
  | { readonly kind: 'pathFailure'; readonly reason: string }
  /** STARTTLS was refused or its handshake failed. */
  | { readonly kind: 'tlsFailure'; readonly reason: string; readonly required: boolean }
  /** No reply in time; the shell told the session so. */
  | { readonly kind: 'timeout'; readonly stage: Stage; readonly replyClass: ReplyClass }
  /** Barge's side cannot go on: a policy forbids it (TLS required but not offered) or the content is not as recorded. */
  | { readonly kind: 'localFailure'; readonly stage: Stage; readonly reason: string }
  /** The peer closed the connection, or sent something that is not an SMTP reply. */
  | { readonly kind: 'connectionLost'; readonly stage: Stage; readonly reason: string };

export type ClientAction =
  /**
   * Write these bytes; `log` is the protocol-log text of each command in them (secrets masked).
   * `lastChunk`: they open the `BDAT n LAST` chunk, after which the message may be accepted.
   */
  | { readonly kind: 'send'; readonly bytes: Buffer; readonly log: readonly string[]; readonly lastChunk?: boolean }
  /** Every byte of a BDAT chunk is out: its reply is due (the shell times it, bdat-health.ts judges it). */
  | { readonly kind: 'chunkSent'; readonly check: boolean; readonly last: boolean; readonly octets: number }
  /** The reply to the oldest chunk sent arrived. */
  | { readonly kind: 'chunkAnswered'; readonly code: number }
  /** A reply arrived, as one line for the protocol log ("250 2.0.0 OK"). */
  | { readonly kind: 'reply'; readonly text: string }
  /** Upgrade the socket now (RFC 3207), then call tlsEstablished() or tlsFailed(). */
  | { readonly kind: 'startTls'; readonly verify: boolean }
  /** Start streaming the content into body()/bodyEnd(); when `converted` is set, downconvert it first. */
  | { readonly kind: 'openBody'; readonly converted?: string }
  | { readonly kind: 'outcome'; readonly outcome: ClientOutcome }
  /** The session is over: close the socket. */
  | { readonly kind: 'close' };
