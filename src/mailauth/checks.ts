/**
 * One message's checks, as the check worker runs them: SPF for MAIL FROM and HELO (RFC 7208 2.3,
 * 2.4), DKIM (RFC 6376 6) and DMARC (RFC 7489 6.6) with mailauth, turned into structured results.
 * What the library is given is bounded: the header section it parses is at most the server's limit
 * (plus Barge's own Received field), and it sees at most MAX_SIGNATURES DKIM-Signature fields, the
 * first ones (as OpenDKIM and rspamd cap them); the others are taken out of the header it reads and
 * reported as one `dkim=policy`. Where the sender left out the empty line before the body, the
 * library is shown one, so it reads the header section as the server measured it.
 */
import { createReadStream } from 'node:fs';
import { isIP } from 'node:net';
import { Readable } from 'node:stream';
import type { AuthResult } from 'mailauth';
import type { MethodResult } from './auth-results.js';
import type { CheckRequest, CheckResults } from './check-types.js';
import type { MailAuthResolver } from './dns-cache.js';
import { HeaderFilter, type Emit } from './header-filter.js';
import { inboundChecks } from './library.js';

/** DKIM signatures verified per message; the rest are reported, not verified. */
export const MAX_SIGNATURES = 5;
/** Room for Barge's own Received field above the client's header section. */
const OWN_FIELDS = 16 * 1024;

/** The message's bytes with the DKIM-Signature fields past the first MAX_SIGNATURES taken out. */
async function* capped(source: AsyncIterable<Buffer>, filter: HeaderFilter, limit: number): AsyncGenerator<Buffer> {
  const out: Buffer[] = [];
  const emit: Emit = (bytes) => void out.push(bytes);
  for await (const chunk of source) {
    if (filter.done) {
      yield chunk as Buffer;
      continue;
    }
    filter.push(chunk as Buffer, emit);
    if (filter.overflowed) throw new Error(`header section over ${limit} octets not examined`);
    yield* out.splice(0);
  }
  filter.end(emit);
  yield* out.splice(0);
}

const isRecord = (v: unknown): v is Readonly<Record<string, unknown>> => typeof v === 'object' && v !== null;

/** A library status (`{ result, comment, underSized, smtp: {...}, header: {...} }`) as a resinfo. */
export function methodResult(method: string, status: unknown): MethodResult {
  const s = isRecord(status) ? status : {};
  const comments: string[] = [];
  if (typeof s.underSized === 'number' && s.underSized > 0) comments.push(`undersized signature: ${s.underSized} bytes unsigned`);
  if (typeof s.comment === 'string' && s.comment !== '') comments.push(s.comment);
  const props: Array<readonly [string, string]> = [];
  for (const ptype of ['policy', 'smtp', 'body', 'header']) {
    const group = s[ptype];
    if (!isRecord(group)) continue;
    for (const [name, value] of Object.entries(group)) {
      if ((typeof value === 'string' && value !== '') || typeof value === 'number') props.push([`${ptype}.${name}`, String(value)]);
    }
  }
  return { method, result: typeof s.result === 'string' ? s.result : 'none', comments, props };
}

function results(auth: AuthResult, helo: MethodResult | undefined, skipped: number): CheckResults {
  const dkim = auth.dkim.results.map((r) => methodResult('dkim', r.status));
  if (skipped > 0) {
    dkim.push({
      method: 'dkim',
      result: 'policy',
      comments: [`${skipped} more DKIM signatures not verified: at most ${MAX_SIGNATURES} are`],
      props: [],
    });
  }
  const spf = auth.spf === false ? undefined : auth.spf;
  const dmarc = auth.dmarc === false ? undefined : auth.dmarc;
  return {
    results: [
      ...dkim,
      ...(spf === undefined ? [] : [methodResult('spf', spf.status)]),
      ...(helo === undefined ? [] : [helo]),
      dmarc === undefined ? { method: 'dmarc', result: 'none', comments: [], props: [] } : methodResult('dmarc', dmarc.status),
    ],
    ...(dmarc === undefined ? {} : { dmarc: { result: dmarc.status.result, policy: dmarc.policy, domain: dmarc.domain } }),
    ...(spf === undefined ? {} : { spf: { result: spf.status.result, domain: spf.domain } }),
  };
}

export async function runChecks(request: CheckRequest, resolver: MailAuthResolver, signal: AbortSignal): Promise<CheckResults> {
  const { authenticate, spf } = await inboundChecks();
  const { facts, hostname } = request;
  let signatures = 0;
  const limit = request.maxHeaderBytes + OWN_FIELDS;
  const filter = new HeaderFilter({
    maxHeaderBytes: limit,
    afterNonField: 'separate',
    rule: { name: 'dkim-signature', keep: () => ++signatures <= MAX_SIGNATURES },
  });
  const message = Readable.from(capped(createReadStream(request.path, { signal }), filter, limit), { objectMode: false });
  const auth = await authenticate(message, {
    ip: facts.clientIp,
    helo: facts.helo,
    sender: facts.from,
    mta: hostname,
    resolver,
    disableArc: true,
    disableBimi: true,
  });
  // RFC 7208 2.3: the HELO identity is checked on its own when it is a domain name.
  const heloName = facts.helo.replace(/\.$/, '');
  let helo: MethodResult | undefined;
  if (/^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/.test(heloName) && isIP(heloName) === 0) {
    const r = await spf({ sender: `postmaster@${heloName}`, ip: facts.clientIp, helo: heloName, mta: hostname, resolver });
    helo = { method: 'spf', result: r.status.result, comments: [], props: [['smtp.helo', heloName]] };
  }
  return results(auth, helo, Math.max(0, signatures - MAX_SIGNATURES));
}
