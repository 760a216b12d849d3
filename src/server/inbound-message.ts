/**
 * One message being received on a connection, from the session's `begin` to its commit or discard:
 * the Received: field, the body bytes into the spool writer (with the writer's back-pressure), the
 * Message-ID for the tracking log, and the commit through the inbound checks when they apply. On the
 * way to the spool, on every ingress, Authentication-Results fields claiming Barge's host name are
 * removed (forged-results.ts) and the header section is measured: past `limits.maxHeaderSize` the
 * rest is not stored and the message is refused 552 5.3.4 at its end. A message gets its 250 only
 * after Spool.commit() resolves; a commit that fails answers 452 4.3.1.
 */
import type { Config, ListenerConfig } from '../config/types.js';
import type { TrackingEvent } from '../log/tracking.js';
import type { Transaction } from '../protocol/envelope.js';
import { MessageIdScanner } from '../message/message-id.js';
import { Reply } from '../protocol/replies.js';
import type { TransferMethod } from '../protocol/server-session.js';
import type { IdSource } from '../message/queue-id.js';
import { receivedHeader, receivedProtocol } from '../message/received.js';
import type { Spool, SpoolEnvelope, SpoolWriter } from '../queue/spool.js';
import type { Clock } from '../time/clock.js';
import type { HeaderFilter } from '../mailauth/header-filter.js';
import { ownResultsFilter } from '../mailauth/forged-results.js';

export interface ScreenFacts {
  readonly clientIp: string;
  readonly helo: string;
  readonly from: string;
  readonly authenticated: boolean;
}

/** What a message needs from the running server. */
export interface MessageContext {
  readonly config: Config;
  readonly listener: ListenerConfig;
  readonly spool: Spool;
  readonly nextId: IdSource;
  readonly track: (event: TrackingEvent) => void;
  /** A message was committed: the queue runner should take it. */
  readonly queued: (id: string, envelope: SpoolEnvelope) => void;
  readonly clock: Clock;
  /** Commits a message after the inbound checks (SPF, DKIM, DMARC); absent: a plain spool commit. */
  readonly screen?: (
    writer: SpoolWriter,
    envelope: Omit<SpoolEnvelope, 'messageLength'>,
    facts: ScreenFacts,
  ) => Promise<SpoolEnvelope | { readonly refuse: Reply }>;
}

/** What the session knows about the client when the message starts and ends. */
export interface SessionFacts {
  readonly clientIp: string;
  readonly helo: string;
  readonly esmtp: boolean;
  readonly tls: boolean;
  readonly user: string | undefined;
}

export type CommitOutcome = { readonly id: string } | { readonly refuse: Reply };

export class InboundMessage {
  readonly #ctx: MessageContext;
  readonly #writer: SpoolWriter;
  readonly #transaction: Transaction;
  readonly #method: TransferMethod;
  /** Reads the Message-ID for the tracking log as the body passes. */
  readonly #head = new MessageIdScanner();
  /** Removes forged results from the header section and measures it. */
  readonly #fields: HeaderFilter;
  #writable = true;
  readonly #emit = (bytes: Buffer): void => {
    this.#writable = this.#writer.write(bytes);
  };

  constructor(ctx: MessageContext, transaction: Transaction, method: TransferMethod, session: SessionFacts) {
    this.#ctx = ctx;
    this.#transaction = transaction;
    this.#method = method;
    const id = ctx.nextId();
    this.#fields = ownResultsFilter(ctx.config.hostname, ctx.config.limits.maxHeaderSize);
    this.#writer = ctx.spool.begin(id);
    this.#writer.write(
      receivedHeader({
        helo: session.helo,
        clientIp: session.clientIp,
        hostname: ctx.config.hostname,
        protocol: protocolOf(session, transaction),
        method,
        id,
        rcpts: transaction.rcpts.map((r) => r.address),
        date: ctx.clock.now(),
      }),
    );
  }

  /** Queues body bytes; false asks the caller to wait for onDrain(). */
  write(bytes: Buffer): boolean {
    this.#head.push(bytes);
    // The session hands out views of the socket's buffer; the writer may hold them, which is fine
    // because the socket allocates a fresh buffer per read.
    const fields = this.#fields;
    if (fields.done) return fields.overflowed || this.#writer.write(bytes);
    this.#writable = true;
    fields.push(bytes, this.#emit);
    return this.#writable;
  }

  onDrain(callback: () => void): void {
    this.#writer.onDrain(callback);
  }

  /** Makes the message durable (after the inbound checks, when they apply) and tracks the outcome. */
  async commit(chunks: number, size: number, session: SessionFacts): Promise<CommitOutcome> {
    const { clientIp, helo } = session;
    const tx = this.#transaction;
    const method = this.#method;
    const writer = this.#writer;
    const envelope = {
      id: writer.id,
      receivedAt: this.#ctx.clock.now().toISOString(),
      listener: this.#ctx.listener.name,
      clientIp,
      helo,
      protocol: protocolOf(session, tx),
      method,
      chunks,
      size,
      transaction: tx,
    };
    const facts = { clientIp, helo, from: tx.from, authenticated: session.user !== undefined };
    const fields = this.#fields;
    if (fields.overflowed) {
      const max = this.#ctx.config.limits.maxHeaderSize;
      this.drop(clientIp, `header section over ${max} octets`);
      return { refuse: Reply.headerTooLarge(max) };
    }
    // A message that ended inside its header section: a field still being judged is settled.
    fields.end(this.#emit);
    try {
      const committed = await (this.#ctx.screen?.(writer, envelope, facts) ?? this.#ctx.spool.commit(writer, envelope));
      if ('refuse' in committed) {
        this.#rejected(clientIp, committed.refuse.lines.join(' '));
        void writer.discard();
        return { refuse: committed.refuse };
      }
      const messageId = this.#head.messageId();
      this.#ctx.track({
        event: 'received',
        id: writer.id,
        listener: this.#ctx.listener.name,
        clientIp,
        helo,
        from: tx.from,
        rcpts: tx.rcpts.map((r) => r.address),
        size,
        body: tx.body,
        smtputf8: tx.smtputf8,
        method,
        chunks,
        ...(tx.envid === undefined ? {} : { envid: tx.envid }),
        ...(messageId === undefined ? {} : { messageId }),
      });
      this.#ctx.queued(writer.id, committed);
      return { id: writer.id };
    } catch (e) {
      this.#rejected(clientIp, `spool write failed: ${String(e)}`);
      return { refuse: Reply.storageFailed() };
    }
  }

  /** The message is abandoned (refused, too big, or the client left): nothing of it stays. */
  drop(clientIp: string, reason: string): void {
    this.#rejected(clientIp, reason);
    void this.#writer.discard();
  }

  #rejected(clientIp: string, reason: string): void {
    this.#ctx.track({
      event: 'rejected',
      listener: this.#ctx.listener.name,
      clientIp,
      from: this.#transaction.from,
      reason,
      method: this.#method,
    });
  }
}

function protocolOf(session: SessionFacts, tx: Transaction): string {
  return receivedProtocol(session.esmtp, tx.smtputf8, session.tls, session.user !== undefined);
}
