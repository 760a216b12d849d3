/**
 * Prometheus metrics, derived from the events Barge already records rather than from calls spread
 * through the server: `observe()` takes each message-tracking event, `command()` each W3C protocol
 * log entry. Gauges (queue, connections) are read when scraped. Names follow Prometheus conventions:
 * `barge_` prefix, `_total` counters, base units (seconds, bytes).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { TrackingEvent } from './tracking.js';
import type { ProtocolLogEntry } from './w3c.js';
import { realClock, type Clock } from '../time/clock.js';

/** What a scrape reads from the running server. */
export interface MetricsSources {
  queueByState(): Promise<ReadonlyMap<string, number>>;
  openConnections(): number;
  /** Seconds since the oldest queued message arrived; 0 when the queue is empty. */
  oldestMessageAgeSeconds(): Promise<number>;
  /** The certificates being served, by configuration entry ("default", a `[tls."NAME"]` key, "acme"). */
  certificates(): ReadonlyArray<{ readonly entry: string; readonly notAfter: Date }>;
  /** Failed ACME orders since start; undefined without `[acme]`. */
  acmeFailures(): number | undefined;
}

/** Bounded, so a flood of messages that never complete cannot grow memory without limit. */
const MAX_PENDING_LATENCIES = 100_000;

/** A fallback reason in a few fixed words, for a label of bounded cardinality. */
export function fallbackReason(text: string): string {
  if (text.includes('remembered')) return 'remembered';
  if (text.includes('masked')) return 'masked-keywords';
  return 'bdat-failed';
}

export class BargeMetrics {
  readonly registry = new Registry();
  readonly #clock: Clock;
  readonly #received = new Map<string, number>();
  readonly #messages = new Counter({
    name: 'barge_messages_received_total',
    help: 'Messages received and made durable, by listener and transfer method',
    labelNames: ['listener', 'method'],
    registers: [this.registry],
  });
  readonly #chunks = new Counter({
    name: 'barge_bdat_chunks_received_total',
    help: 'BDAT chunks of received messages',
    labelNames: ['listener'],
    registers: [this.registry],
  });
  readonly #bytes = new Counter({
    name: 'barge_received_bytes_total',
    help: 'Message octets received',
    labelNames: ['listener', 'method'],
    registers: [this.registry],
  });
  readonly #rejected = new Counter({
    name: 'barge_messages_rejected_total',
    help: 'Messages refused or dropped after the transfer began',
    labelNames: ['listener', 'method'],
    registers: [this.registry],
  });
  readonly #deliveries = new Counter({
    name: 'barge_deliveries_total',
    help: 'Recipient delivery outcomes by transfer method (local for Maildir)',
    labelNames: ['outcome', 'method'],
    registers: [this.registry],
  });
  readonly #fallbacks = new Counter({
    name: 'barge_bdat_fallbacks_total',
    help: 'Deliveries sent by DATA instead of BDAT, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly #quirks = new Counter({
    name: 'barge_quirks_learnt_total',
    help: 'Path quirks learnt, by kind',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  readonly #bugs = new Counter({
    name: 'barge_bugs_total',
    help: "Throws in Barge's own code caught by the error boundary of one session (inbound or outbound)",
    labelNames: ['where'],
    registers: [this.registry],
  });
  readonly #authFailures = new Counter({
    name: 'barge_auth_failures_total',
    help: 'Refused AUTH attempts',
    labelNames: ['listener'],
    registers: [this.registry],
  });
  readonly #proxyRefusals = new Counter({
    name: 'barge_proxy_refusals_total',
    help: 'Connections to PROXY protocol listeners closed unserved: from outside proxy_from, or without a valid header',
    labelNames: ['listener'],
    registers: [this.registry],
  });
  readonly #refusals = new Counter({
    name: 'barge_smtp_refusals_total',
    help: 'Inbound commands answered with a 4xx or 5xx reply, by listener and code',
    labelNames: ['listener', 'code'],
    registers: [this.registry],
  });
  readonly #latency = new Histogram({
    name: 'barge_delivery_latency_seconds',
    help: 'From receipt to delivery of one recipient',
    buckets: [0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 1800, 3600, 14_400, 86_400],
    registers: [this.registry],
  });
  readonly #session = new Histogram({
    name: 'barge_session_duration_seconds',
    help: 'Inbound SMTP connection lifetimes',
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 900],
    registers: [this.registry],
  });

  constructor(clock: Clock = realClock) {
    this.#clock = clock;
  }

  /** Adds the scrape-time gauges and Node's process metrics (memory, event-loop lag, GC). */
  attach(sources: MetricsSources): void {
    new Gauge({
      name: 'barge_queue_messages',
      help: 'Queued messages by state',
      labelNames: ['state'],
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const [state, n] of await sources.queueByState()) this.set({ state }, n);
      },
    });
    new Gauge({
      name: 'barge_open_connections',
      help: 'Open inbound SMTP connections',
      registers: [this.registry],
      collect() {
        this.set(sources.openConnections());
      },
    });
    new Gauge({
      name: 'barge_queue_oldest_message_age_seconds',
      help: 'Age of the oldest queued message',
      registers: [this.registry],
      async collect() {
        this.set(await sources.oldestMessageAgeSeconds());
      },
    });
    const clock = this.#clock;
    // One series per configuration entry, not per name: an alert says which entry to fix.
    new Gauge({
      name: 'barge_tls_certificate_expiry_seconds',
      help: 'Seconds until each served certificate expires, by configuration entry',
      labelNames: ['name'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const c of sources.certificates())
          this.set({ name: c.entry }, Math.round((c.notAfter.getTime() - clock.now().getTime()) / 1000));
      },
    });
    new Counter({
      name: 'barge_acme_failures_total',
      help: 'Failed ACME certificate orders',
      registers: [this.registry],
      collect() {
        const failures = sources.acmeFailures();
        this.reset();
        if (failures !== undefined) this.inc(failures);
      },
    });
    collectDefaultMetrics({ register: this.registry });
  }

  /** One message-tracking event. */
  observe(e: TrackingEvent): void {
    switch (e.event) {
      case 'received':
        this.#messages.inc({ listener: e.listener, method: e.method });
        this.#bytes.inc({ listener: e.listener, method: e.method }, e.size);
        if (e.method === 'BDAT') this.#chunks.inc({ listener: e.listener }, e.chunks);
        if (this.#received.size < MAX_PENDING_LATENCIES) this.#received.set(e.id, this.#clock.now().getTime());
        return;
      case 'rejected':
        this.#rejected.inc({ listener: e.listener, method: e.method });
        return;
      case 'delivered': {
        this.#deliveries.inc({ outcome: 'delivered', method: e.method ?? 'local' });
        if (e.fallback !== undefined) this.#fallbacks.inc({ reason: fallbackReason(e.fallback) });
        const at = this.#received.get(e.id);
        if (at !== undefined) this.#latency.observe(Math.max(0, this.#clock.now().getTime() - at) / 1000);
        return;
      }
      case 'deferred':
      case 'bounced':
        this.#deliveries.inc({ outcome: e.event, method: 'none' });
        return;
      case 'completed':
        this.#received.delete(e.id);
        return;
      case 'quirk':
        this.#quirks.inc({ kind: e.kind });
        return;
      case 'bug':
        this.#bugs.inc({ where: e.where });
        return;
    }
  }

  /** One inbound W3C protocol-log entry (outbound entries carry status 0 and are not counted). */
  command(listener: string, entry: ProtocolLogEntry): void {
    const status = entry.status ?? 0;
    if (status < 400) return;
    this.#refusals.inc({ listener, code: String(status) });
  }

  authFailure(listener: string): void {
    this.#authFailures.inc({ listener });
  }

  proxyRefused(listener: string): void {
    this.#proxyRefusals.inc({ listener });
  }

  session(seconds: number): void {
    this.#session.observe(seconds);
  }
}
