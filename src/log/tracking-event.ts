/** The events of the message tracking log (tracking.ts writes them, one JSON object per line). */
export type TransferMethod = 'DATA' | 'BDAT';
export type TrackingEvent =
  | {
      event: 'received';
      id: string;
      listener: string;
      clientIp: string;
      helo: string;
      from: string;
      rcpts: readonly string[];
      size: number;
      body: '7BIT' | '8BITMIME' | 'BINARYMIME';
      smtputf8: boolean;
      method: TransferMethod;
      chunks: number;
      envid?: string;
      messageId?: string;
    }
  | { event: 'rejected'; listener: string; clientIp: string; from: string; reason: string; method: TransferMethod | 'NONE' }
  | {
      event: 'delivered';
      id: string;
      rcpt: string;
      via: 'maildir' | 'smtp';
      detail: string;
      method?: TransferMethod;
      chunks?: number;
      fallback?: string;
      tlsPolicy?: string;
    }
  | { event: 'deferred'; id: string; rcpt: string; reason: string; nextAttempt?: string }
  | { event: 'bounced'; id: string; rcpt: string; reason: string }
  | { event: 'completed'; id: string }
  /** A path quirk learnt for a destination: BDAT or TLS avoided there until `until`. */
  | { event: 'quirk'; destination: string; kind: 'no-bdat' | 'no-tls' | 'big-chunks'; reason: string; until: string }
  /** DKIM signatures added when a message was queued for relay ("domain/selector"), after any conversion to 7-bit. */
  | { event: 'signed'; id: string; signatures: readonly string[]; converted?: string }
  /** Inbound SPF/DKIM/DMARC results (the Authentication-Results value) and what the listener's policy did. */
  | { event: 'authenticated'; id: string; clientIp: string; results: string; action: 'accept' | 'junk' | 'reject' }
  /** TLS-RPT (RFC 8460) material: the policy a delivery to a domain was held to, and how the attempt went. */
  | { event: 'tls-policy'; id: string; domain: string; policy: string; result: 'success' | 'failure'; detail?: string }
  /**
   * A throw in Barge's own code, caught by the error boundary of one inbound connection or one outbound
   * delivery (bug.ts): that session alone ended. `connection`/`clientIp` name an inbound one, `id` and
   * `destination` an outbound one.
   */
  | {
      event: 'bug';
      where: 'inbound' | 'outbound';
      message: string;
      stack: string;
      connection?: string;
      clientIp?: string;
      id?: string;
      destination?: string;
    };
export type TrackingRecord = TrackingEvent & { time: string };
