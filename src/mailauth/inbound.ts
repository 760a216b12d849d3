/**
 * Inbound checks for mail from outside (no AUTH, not from the relay networks), run on the spooled
 * bytes at end of data, before the reply: SPF for MAIL FROM and HELO (RFC 7208 2.3, 2.4), DKIM (RFC
 * 6376 6, at most MAX_SIGNATURES signatures) and DMARC for the From domain (RFC 7489 6.6), in the check
 * worker (check-pool.ts), never on the event loop. One Authentication-Results field (RFC 8601), built
 * from the structured results, goes on top; fields claiming Barge's authserv-id were already removed
 * as the message arrived (forged-results.ts). Past the time budget every result is temperror and the
 * message is accepted. The listener's policy turns DMARC p=reject failures into 550 5.7.1,
 * p=quarantine into the Junk folder, and (optionally) an SPF fail into 550 5.7.23.
 */
import { createReadStream } from 'node:fs';
import type { InboundAuthPolicy } from '../config/types.js';
import type { TrackingEvent } from '../log/tracking.js';
import { domainOf } from '../protocol/command.js';
import { Reply } from '../protocol/replies.js';
import type { Spool, SpoolEnvelope, SpoolWriter } from '../queue/spool.js';
import { authResultsField, temperrorResults } from './auth-results.js';
import type { CheckPool } from './check-pool.js';
import type { CheckResults } from './check-types.js';

export interface InboundFacts {
  readonly clientIp: string;
  readonly helo: string;
  /** MAIL FROM ("" for the null sender). */
  readonly from: string;
  readonly authenticated: boolean;
}

export interface InboundDeps {
  readonly hostname: string;
  readonly policy: InboundAuthPolicy;
  readonly budgetMs: number;
  /** The server's header section limit (the worker examines no more). */
  readonly maxHeaderBytes: number;
  readonly checks: Pick<CheckPool, 'run'>;
  readonly spool: Spool;
  /** True for clients in the relay networks (trusted: not checked). */
  readonly trusted: (clientIp: string) => boolean;
  readonly track: (event: TrackingEvent) => void;
}

export interface Verdict {
  /** The Authentication-Results field, CRLF-terminated. */
  readonly header: string;
  readonly action: 'accept' | 'junk' | 'reject';
  readonly refuse?: Reply;
}

type Commit = (
  writer: SpoolWriter,
  envelope: Omit<SpoolEnvelope, 'messageLength'>,
  facts: InboundFacts,
) => Promise<SpoolEnvelope | { readonly refuse: Reply }>;

/** A commit for the connection: checks outside mail first, then commits it with its results on top. */
export function screenedCommit(deps: InboundDeps): Commit {
  // Mail that is not checked gets the spool's promise itself (no extra async step per message).
  return (writer, envelope, facts) =>
    !deps.policy.enabled || facts.authenticated || deps.trusted(facts.clientIp)
      ? deps.spool.commit(writer, envelope)
      : screened(writer, envelope, facts, deps);
}

async function screened(
  writer: SpoolWriter,
  envelope: Omit<SpoolEnvelope, 'messageLength'>,
  facts: InboundFacts,
  deps: InboundDeps,
): ReturnType<Commit> {
  try {
    await writer.flushed();
  } catch (e) {
    await writer.discard();
    throw e;
  }
  const verdict = await check(writer.path, facts, deps);
  const results = verdict.header
    .replace(/^Authentication-Results:\s*/, '')
    .replace(/\s+/g, ' ')
    .trim();
  deps.track({ event: 'authenticated', id: writer.id, clientIp: facts.clientIp, results, action: verdict.action });
  if (verdict.refuse !== undefined) return { refuse: verdict.refuse };
  async function* content(): AsyncGenerator<Buffer> {
    yield Buffer.from(verdict.header, 'utf8');
    yield* createReadStream(writer.path);
  }
  try {
    return await deps.spool.rewrite(writer.id, content(), { ...envelope, ...(verdict.action === 'junk' ? { junk: true } : {}) });
  } finally {
    await writer.discard();
  }
}

export async function check(
  path: string,
  facts: InboundFacts,
  deps: Pick<InboundDeps, 'hostname' | 'checks' | 'budgetMs' | 'policy' | 'maxHeaderBytes'>,
): Promise<Verdict> {
  const request = {
    path,
    facts: { clientIp: facts.clientIp, helo: facts.helo, from: facts.from },
    hostname: deps.hostname,
    maxHeaderBytes: deps.maxHeaderBytes,
  };
  const outcome = await deps.checks.run(request, deps.budgetMs);
  switch (outcome.kind) {
    case 'late':
      return temperror(deps.hostname, `checks took longer than ${deps.budgetMs} ms`);
    case 'failed':
      return temperror(deps.hostname, outcome.reason);
    case 'done':
      return decide(outcome.results, facts, deps);
    default: {
      const never: never = outcome;
      return never;
    }
  }
}

function temperror(hostname: string, why: string): Verdict {
  return { header: authResultsField(hostname, temperrorResults(why)), action: 'accept' };
}

function decide(checked: CheckResults, facts: InboundFacts, deps: Pick<InboundDeps, 'hostname' | 'policy'>): Verdict {
  const header = authResultsField(deps.hostname, checked.results);
  const { dmarc, spf } = checked;
  if (deps.policy.dmarc === 'enforce' && dmarc?.result === 'fail') {
    if (dmarc.policy === 'reject') return { header, action: 'reject', refuse: Reply.dmarcRejected(dmarc.domain ?? '') };
    if (dmarc.policy === 'quarantine') return { header, action: 'junk' };
  }
  if (deps.policy.spfFail === 'reject' && spf?.result === 'fail') {
    return { header, action: 'reject', refuse: Reply.spfFailed(spf.domain ?? domainOf(facts.from)) };
  }
  return { header, action: 'accept' };
}
