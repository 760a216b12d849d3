/**
 * The delivery port: what the queue needs from the outbound side, declared here so that the queue
 * depends on no client code; `client/` implements it. The message to send to one domain and the
 * delivery's result, with the words that describe how it went (method, chunks, conversion, fallback)
 * so the queue never assembles them from client details.
 */
import type { Readable } from 'node:stream';
import type { ClientMessage, RecipientOutcome } from '../protocol/client-types.js';

export type { RecipientOutcome };

export interface OutboundMessage extends ClientMessage {
  /** RFC 8689 5 "TLS-Required: No": the sender waives recipient-side TLS policy (MTA-STS). */
  readonly tlsOptional?: boolean;
  open(): Readable;
}

/** The host that took (or last refused) the transaction. */
export interface DeliveryHop {
  readonly name: string;
}

export interface DomainDelivery {
  readonly outcomes: readonly RecipientOutcome[];
  /** The hop that took the transaction, if any. */
  readonly hop?: DeliveryHop;
  readonly method?: 'DATA' | 'BDAT';
  readonly chunks?: number;
  readonly converted?: string;
  /** Why DATA was used although BDAT was allowed: a fallback made now or remembered. */
  readonly fallback?: string;
  /** The TLS policy applied (MTA-STS), for the tracking log. */
  readonly tlsPolicy?: string;
}

/** Delivers one message to one domain's recipients. */
export type DeliverRemote = (domain: string, message: OutboundMessage) => Promise<DomainDelivery>;

/** " BDAT/3 (converted ...) [fallback: ...]": how the content went, for the queue state and tracking log. */
export function howDelivered(d: DomainDelivery): string {
  const method = d.method === undefined ? '' : ` ${d.method}${d.method === 'BDAT' ? `/${d.chunks ?? 0}` : ''}`;
  const converted = d.converted === undefined ? '' : ` (${d.converted})`;
  const fallback = d.fallback === undefined ? '' : ` [fallback: ${d.fallback}]`;
  return `${method}${converted}${fallback}`;
}
