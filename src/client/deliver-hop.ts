/**
 * One next hop: a kept session or a fresh one, one transaction over the socket shell, then the
 * decision over its typed outcome (decisions.ts): done, retry at once (without BDAT, in clear text,
 * or fresh after a stale kept session), or go on to the next hop. What a decision teaches is
 * remembered as a quirk; what the chunk timings say (bdat-health.ts) too.
 *
 * When BDAT fails on the path, other BDAT transfers to the hop that have not sent their last chunk
 * are stopped and resent by DATA (in-flight.ts). Nothing was accepted by a failed attempt, so the
 * retry duplicates nothing.
 */
import { formatHostPort } from '../protocol/host-port.js';
import type { ClientOutcome, TransactionOptions } from '../protocol/client-types.js';
import { CHECK_CHUNK_BYTES, judgeTransfer, needsCheck, type TransferHealth } from './bdat-health.js';
import { afterAttempt, chunkLessons, planContent, type KnownQuirks, type Lesson, type Problem } from './decisions.js';
import type { DeliveryContext, RouteOptions } from './delivery-context.js';
import type { DomainDelivery, OutboundMessage } from '../queue/delivery-port.js';
import { downconvert } from '../message/downconvert.js';
import { loopOutcomes } from './loop.js';
import type { ConnectOptions, SessionSecurity } from './pool.js';
import type { QuirkDestination } from './quirks.js';
import type { NextHop } from './routes.js';
import type { Stoppable, Transfer } from './session-socket.js';

export type { Problem };

const DAY_MS = 86_400_000;
/** At most: a stale kept session, a BDAT fallback and a TLS fallback, each retried once. */
const MAX_TRIES = 4;

/** The hop's delivery, or undefined with the reason in `problems` (RFC 5321 5.1: try the next one). */
export async function deliverToHop(
  domain: string,
  hop: NextHop,
  message: OutboundMessage,
  options: RouteOptions,
  ctx: DeliveryContext,
  problems: string[],
): Promise<DomainDelivery | undefined> {
  const destination: QuirkDestination = hop;
  const connect = connectOptions(hop, ctx);
  const learn = async (kind: Problem, reason: string): Promise<void> => {
    const quirk = await ctx.quirks?.remember(destination, kind, reason, ctx.quirkTtlMs ?? DAY_MS).catch(() => undefined);
    if (quirk !== undefined) ctx.learnt?.({ ...quirk, kind });
  };
  const where = `${hop.name}[${hop.host}]:${hop.port}`;
  let fallback: string | undefined;
  let fresh = false;
  for (let tries = 0; tries < MAX_TRIES; tries++) {
    const noTls = ctx.quirks?.get(destination, 'no-tls') !== undefined;
    const security: SessionSecurity = { ...options.security, servername: hop.name, skipTls: noTls };
    const acquired = await ctx.pool.acquire(connect, fresh, security);
    let outcome: ClientOutcome;
    let reused = false;
    let health: TransferHealth = { nonFinalMs: [] };
    if (acquired.kind === 'failed') outcome = acquired.outcome;
    else {
      const session = acquired.session;
      reused = session.reused;
      const loop = loopOutcomes(ctx.myself, domain, session, hop.port, message.rcpts);
      if (loop !== undefined) {
        ctx.pool.release(connect, session, false);
        return { outcomes: loop, hop };
      }
      // Read after the wait for a session: another transfer may have learnt something meanwhile.
      const plan = planContent(session.caps, options.allowBdat, options.fallback, options.chunkSize, known(ctx, destination));
      if (plan.learn !== undefined) await learn(plan.learn.kind, plan.learn.reason);
      fallback = plan.learn === undefined ? (fallback ?? plan.fallback) : plan.fallback;
      const tx: TransactionOptions = {
        allowBdat: plan.allowBdat,
        allowPipelining: options.allowPipelining,
        allowBinarymime: options.allowBinarymime,
        chunkSize: plan.chunkSize,
        ...bdatCheck(ctx, destination, reused),
      };
      const usesBdat = plan.allowBdat && session.caps.keywords.has('CHUNKING');
      const transfer = await session.socket.send(message, contentOf(message), tx, usesBdat ? stoppable(ctx, hop) : undefined);
      health = judgeTransfer(transfer.chunks, ctx.slowChunkMs ?? 2000);
      outcome = explained(transfer, health);
      ctx.pool.release(connect, session, isTransactionAnswer(outcome));
    }
    const decision = afterAttempt(outcome, { fallbackOn: options.fallback, reused });
    if (decision.kind === 'nextHop') {
      problems.push(`${where}: ${decision.problem}`);
      return undefined;
    }
    if (decision.kind === 'retry') {
      fresh = true;
      if (decision.learn?.kind === 'no-bdat') fallback = await learnNoBdat(ctx, hop, decision.learn, learn);
      else if (decision.learn !== undefined) await learn(decision.learn.kind, decision.learn.reason);
      continue;
    }
    // Whatever the peer answered, BDAT chunks that were answered say how the path treats them.
    await learnFromChunks(ctx, destination, health, reused, learn);
    return delivery(outcome, hop, fallback);
  }
  problems.push(`${where}: gave up after repeated failures`);
  return undefined;
}

function connectOptions(hop: NextHop, ctx: DeliveryContext): ConnectOptions {
  const commandMs = ctx.replyTimeoutMs;
  return {
    host: hop.host,
    port: hop.port,
    connectTimeoutMs: ctx.connectTimeoutMs,
    // The check chunk never waits longer than any other reply may take.
    timeouts: { commandMs, endOfDataMs: commandMs, bdatCheckMs: Math.min(ctx.bdatCheckTimeoutMs ?? commandMs, commandMs) },
    ...(ctx.log === undefined ? {} : { log: (direction: 'command' | 'response', text: string) => ctx.log?.(hop, direction, text) }),
    ...(ctx.clock === undefined ? {} : { clock: ctx.clock }),
    ...(ctx.bug === undefined ? {} : { bug: (e: unknown) => ctx.bug?.(e, formatHostPort(hop)) }),
    ...(ctx.fault === undefined ? {} : { fault: ctx.fault }),
  };
}

function known(ctx: DeliveryContext, destination: QuirkDestination): KnownQuirks {
  const noBdat = ctx.quirks?.get(destination, 'no-bdat')?.reason;
  const bigChunks = ctx.quirks?.get(destination, 'big-chunks')?.reason;
  return { ...(noBdat === undefined ? {} : { noBdat }), ...(bigChunks === undefined ? {} : { bigChunks }) };
}

/** A check chunk while the hop's BDAT health is unknown (or a reused session was never checked). */
function bdatCheck(ctx: DeliveryContext, destination: QuirkDestination, reused: boolean): { bdatCheckBytes?: number } {
  const health = ctx.quirks?.get(destination, 'bdat-ok')?.health;
  return ctx.bdatCheckTimeoutMs !== undefined && needsCheck(health, reused) ? { bdatCheckBytes: CHECK_CHUNK_BYTES } : {};
}

function contentOf(message: OutboundMessage): (converted?: string) => ReturnType<OutboundMessage['open']> {
  return (converted) => (converted === undefined ? message.open() : downconvert(message.open(), message.body, converted));
}

function stoppable(ctx: DeliveryContext, hop: NextHop): Stoppable | undefined {
  const inFlight = ctx.bdatInFlight;
  return inFlight === undefined ? undefined : (stop) => inFlight.enter(formatHostPort(hop), stop);
}

/**
 * A transfer stopped because another found BDAT broken failed on the path for that reason; a check
 * chunk met with silence or a reset says so in the path failure's words.
 */
function explained(transfer: Transfer, health: TransferHealth): ClientOutcome {
  const o = transfer.outcome;
  if (o.kind === 'delivered') return o;
  if (transfer.stopped !== undefined) return { kind: 'pathFailure', reason: transfer.stopped };
  return o.kind === 'pathFailure' && health.pathFailure !== undefined ? { kind: 'pathFailure', reason: health.pathFailure } : o;
}

/** The peer answered the transaction itself: the session may carry the next one. */
function isTransactionAnswer(o: ClientOutcome): boolean {
  return o.kind === 'delivered' || o.kind === 'unsendable' || (o.kind === 'rejected' && ['MAIL', 'RCPT', 'DATA', 'BDAT'].includes(o.stage));
}

/** BDAT broke on the path: remember it, stop the other BDAT transfers to the hop, forget its good health. */
async function learnNoBdat(
  ctx: DeliveryContext,
  hop: NextHop,
  lesson: Lesson,
  learn: (kind: Problem, reason: string) => Promise<void>,
): Promise<string> {
  const already = ctx.quirks?.get(hop, 'no-bdat');
  if (already === undefined) {
    const learning = learn('no-bdat', lesson.reason);
    ctx.bdatInFlight?.stopAll(formatHostPort(hop), `${lesson.reason} (found by another transfer to ${formatHostPort(hop)})`);
    await learning;
    await ctx.quirks?.forget(hop, 'bdat-ok').catch(() => undefined);
  }
  return `DATA instead of BDAT (${already?.reason ?? lesson.reason})`;
}

/** A passed check makes the hop "bdat-ok"; a delayed check or slow non-final chunks make it "big-chunks". */
async function learnFromChunks(
  ctx: DeliveryContext,
  destination: QuirkDestination,
  health: TransferHealth,
  reused: boolean,
  learn: (kind: Problem, reason: string) => Promise<void>,
): Promise<void> {
  const bdatOk = ctx.quirks?.get(destination, 'bdat-ok')?.health;
  const before = { ...known(ctx, destination), ...(bdatOk === undefined ? {} : { bdatOk }) };
  const lessons = chunkLessons(health, before, reused, ctx.slowChunkMs ?? 2000);
  const h = lessons.health;
  const ttl = ctx.quirkTtlMs ?? DAY_MS;
  if (h !== undefined) await ctx.quirks?.remember(destination, 'bdat-ok', h.reason, ttl, h.next).catch(() => undefined);
  if (lessons.learn !== undefined) await learn(lessons.learn.kind, lessons.learn.reason);
}

/** The recipients' outcomes of a transaction that was answered, with how the content went. */
function delivery(outcome: ClientOutcome, hop: NextHop, fallback: string | undefined): DomainDelivery {
  if (outcome.kind !== 'delivered') return { outcomes: 'recipients' in outcome ? outcome.recipients : [], hop };
  return {
    outcomes: outcome.recipients,
    hop,
    method: outcome.method,
    chunks: outcome.chunks,
    ...(outcome.converted === undefined ? {} : { converted: outcome.converted }),
    ...(fallback === undefined || outcome.method !== 'DATA' ? {} : { fallback }),
  };
}
