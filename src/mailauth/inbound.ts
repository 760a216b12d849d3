/**
 * Inbound checks for mail from outside (no AUTH, not from the relay networks), run on the spooled
 * bytes at end of data, before the reply: SPF for MAIL FROM and HELO (RFC 7208 2.3, 2.4), every DKIM
 * signature (RFC 6376 6), DMARC for the From domain (RFC 7489 6.6). One Authentication-Results field
 * (RFC 8601) naming Barge goes on top; fields claiming Barge's authserv-id were removed as the message
 * arrived (forged-results.ts). The checks get a time budget; past it every result is temperror and
 * the message is accepted.
 * The listener's policy turns DMARC p=reject failures into 550 5.7.1, p=quarantine into the Junk
 * folder, and (optionally) an SPF fail into 550 5.7.23.
 */
import { createReadStream } from 'node:fs';
import { isIP } from 'node:net';
import type { AuthResult } from 'mailauth';
import type { InboundAuthPolicy } from '../config/types.js';
import type { TrackingEvent } from '../log/tracking.js';
import { Reply } from '../protocol/replies.js';
import { domainOf } from '../protocol/command.js';
import type { Spool, SpoolEnvelope, SpoolWriter } from '../queue/spool.js';
import type { MailAuthResolver } from './dns-cache.js';
import { inboundChecks, type InboundChecks } from './library.js';

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
  readonly resolver: MailAuthResolver;
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

type Commit = (writer: SpoolWriter, envelope: Omit<SpoolEnvelope, 'messageLength'>, facts: InboundFacts) => Promise<SpoolEnvelope | { readonly refuse: Reply }>;

/** A commit for the connection: checks outside mail first, then commits it with its results on top. */
export function screenedCommit(deps: InboundDeps): Commit {
  // Mail that is not checked gets the spool's promise itself (no extra async step per message).
  return (writer, envelope, facts) =>
    !deps.policy.enabled || facts.authenticated || deps.trusted(facts.clientIp) ? deps.spool.commit(writer, envelope) : screened(writer, envelope, facts, deps);
}

async function screened(writer: SpoolWriter, envelope: Omit<SpoolEnvelope, 'messageLength'>, facts: InboundFacts, deps: InboundDeps): ReturnType<Commit> {
  try {
    await writer.flushed();
  } catch (e) {
    await writer.discard();
    throw e;
  }
  const verdict = await check(writer.path, facts, deps);
  const results = verdict.header.replace(/^Authentication-Results:\s*/, '').replace(/\s+/g, ' ').trim();
  deps.track({ event: 'authenticated', id: writer.id, clientIp: facts.clientIp, results, action: verdict.action });
  if (verdict.refuse !== undefined) return { refuse: verdict.refuse };
  async function* content(): AsyncGenerator<Buffer> {
    yield Buffer.from(verdict.header, 'latin1');
    yield* createReadStream(writer.path);
  }
  try {
    return await deps.spool.rewrite(writer.id, content(), { ...envelope, ...(verdict.action === 'junk' ? { junk: true } : {}) });
  } finally {
    await writer.discard();
  }
}

export async function check(path: string, facts: InboundFacts, deps: Pick<InboundDeps, 'hostname' | 'resolver' | 'budgetMs' | 'policy'>): Promise<Verdict> {
  // Loaded before the budget starts: loading is local work, the budget is for the DNS answers.
  const lib = await inboundChecks();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), deps.budgetMs);
  });
  const work = run(lib, path, facts, deps).catch((e: unknown) => ({ error: e instanceof Error ? e.message : String(e) }));
  const outcome = await Promise.race([work, late]);
  clearTimeout(timer);
  if (outcome === undefined) return temperror(deps.hostname, `checks took longer than ${deps.budgetMs} ms`);
  if ('error' in outcome) return temperror(deps.hostname, outcome.error);
  return decide(outcome.auth, outcome.helo, facts, deps);
}

async function run({ authenticate, spf }: InboundChecks, path: string, facts: InboundFacts, deps: Pick<InboundDeps, 'hostname' | 'resolver'>): Promise<{ auth: AuthResult; helo: string | undefined }> {
  const ip = facts.clientIp;
  const auth = await authenticate(createReadStream(path), {
    ip, helo: facts.helo, sender: facts.from, mta: deps.hostname, resolver: deps.resolver, disableArc: true, disableBimi: true,
  });
  // RFC 7208 2.3: the HELO identity is checked on its own when it is a domain name.
  const heloName = facts.helo.replace(/\.$/, '');
  let helo: string | undefined;
  if (/^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/.test(heloName) && isIP(heloName) === 0) {
    const r = await spf({ sender: `postmaster@${heloName}`, ip, helo: heloName, mta: deps.hostname, resolver: deps.resolver });
    helo = `spf=${r.status.result} smtp.helo=${heloName}`;
  }
  return { auth, helo };
}

const oneLine = (s: string | undefined): string | undefined => s?.replace(/\s+/g, ' ').trim();

function field(hostname: string, results: readonly string[]): string {
  return `Authentication-Results: ${hostname};\r\n\t${results.join(';\r\n\t')}\r\n`;
}

function temperror(hostname: string, why: string): Verdict {
  const comment = `(${why.replace(/[()\\]/g, ' ')})`;
  return { header: field(hostname, [`spf=temperror ${comment}`, 'dkim=temperror', 'dmarc=temperror']), action: 'accept' };
}

function decide(auth: AuthResult, helo: string | undefined, facts: InboundFacts, deps: Pick<InboundDeps, 'hostname' | 'policy'>): Verdict {
  const results: string[] = [];
  const dkim = auth.dkim.results.map((r) => oneLine(r.info)).filter((s): s is string => s !== undefined);
  results.push(...(dkim.length > 0 ? dkim : ['dkim=none']));
  if (auth.spf !== false) results.push(oneLine(auth.spf.info) ?? `spf=${auth.spf.status.result}`);
  if (helo !== undefined) results.push(helo);
  const dmarc = auth.dmarc === false ? undefined : auth.dmarc;
  results.push(oneLine(dmarc?.info) ?? 'dmarc=none');
  const header = field(deps.hostname, results);
  const fromDomain = dmarc?.domain ?? '';
  if (deps.policy.dmarc === 'enforce' && dmarc?.status.result === 'fail') {
    if (dmarc.policy === 'reject') return { header, action: 'reject', refuse: Reply.dmarcRejected(fromDomain) };
    if (dmarc.policy === 'quarantine') return { header, action: 'junk' };
  }
  if (deps.policy.spfFail === 'reject' && auth.spf !== false && auth.spf.status.result === 'fail') {
    return { header, action: 'reject', refuse: Reply.spfFailed(auth.spf.domain ?? domainOf(facts.from)) };
  }
  return { header, action: 'accept' };
}
