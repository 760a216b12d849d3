/**
 * What a connection needs from the running server: the listener's config and message context,
 * and the server-wide checks and services its session calls on. Listeners build one per listener;
 * a connection and its session options only read it.
 */
import type { BlockList } from 'node:net';
import type { W3cLog } from '../log/w3c.js';
import type { Reply } from '../protocol/replies.js';
import type { RecipientVerdict } from '../protocol/server-session.js';
import type { AuthOutcome } from './authenticator.js';
import type { MessageContext } from './inbound-message.js';
import type { TlsCredentials } from './tls.js';
import type { BugPlace } from '../log/bug.js';
import type { FaultHook } from './connection-boundary.js';

export interface ConnectionContext extends MessageContext {
  readonly protocolLog: W3cLog | undefined;
  /** Counts octets read from sockets (the young-generation pacing, app/tuning.ts). */
  readonly paceRead: (octets: number) => void;
  readonly checkRecipient: (clientIp: string) => (address: string, user: string | undefined) => RecipientVerdict;
  /** Undefined when no listener uses TLS. */
  readonly tls: TlsCredentials | undefined;
  readonly authenticate: (clientIp: string, user: string, password: string) => Promise<AuthOutcome>;
  readonly mayUseSender: (user: string, address: string) => boolean;
  /** ETRN (RFC 1985): run the queue for a domain. */
  readonly etrn: (domain: string) => void;
  /** Whether this client may ETRN for a node now (policy and rate), else the 458 refusal. */
  readonly etrnPolicy: (clientIp: string) => (node: string, user: string | undefined) => Reply | undefined;
  /** Reports a bug caught by the connection's error boundary (tracking log and stderr). */
  readonly bug: (error: unknown, place: BugPlace) => void;
  /** Tests only: makes the connection fail at a point (connection-boundary.ts); never set by `barge serve`. */
  readonly fault?: FaultHook;
  /** PROXY protocol on: the networks (proxy_from) whose header names the client. Undefined: the socket's peer is the client. */
  readonly proxyFrom: BlockList | undefined;
}
