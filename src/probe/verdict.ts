/**
 * What `barge probe` concludes, pure: observations of one probe in, a verdict, every finding, an exit
 * code and plain words out. No sockets here; probe.ts gathers the observations.
 *
 * Verdicts, most important first (the primary verdict is the first finding that applies):
 *
 * | verdict          | meaning                                                                           | exit |
 * |------------------|-----------------------------------------------------------------------------------|------|
 * | unreachable      | no connection, no banner, or the session was refused before any test could run     | 2    |
 * | bdat-dropped     | BDAT got no reply within the timeout (a black hole) although CHUNKING was         | 1    |
 * |                  | advertised, or hidden behind masked EHLO keywords                                  |      |
 * | bdat-reset       | the connection was closed or reset right after BDAT                                | 1    |
 * | bdat-refused     | BDAT answered with an error although CHUNKING was advertised, or EHLO keywords are  | 1    |
 * |                  | masked and the path answers BDAT itself (500: unknown command)                     |      |
 * | keywords-masked  | EHLO keywords rewritten into X's (XXXXXXXA) or stars: ESMTP inspection            | 1    |
 * | chunks-delayed   | a non-final BDAT chunk was answered only after the slow-chunk limit (tarpitting)    | 1    |
 * | data-failed      | the recipient was accepted but DATA got no 354 (error, reset or no reply)           | 1    |
 * | banner-masked    | the 220 banner is empty or made of stars (220 *****): SMTP inspection              | 1    |
 * | starttls-failed  | STARTTLS was offered but refused, or the TLS handshake failed                      | 1    |
 * | no-starttls      | STARTTLS not offered: cleartext only (the server lacks it, or a device strips it);  | 1    |
 * |                  | not judged with --no-tls                                                          |      |
 * | rcpt-refused     | could not test: MAIL or the probe recipient was refused (try --rcpt)               | 1    |
 * | no-chunking      | a clean path, but the server does not offer CHUNKING: Barge will use DATA          | 0    |
 * | clean            | CHUNKING offered and a BDAT chunk answered 250 in time: Barge will use BDAT        | 0    |
 *
 * Whether BDAT counts as dropped, reset, refused or delayed is decided by bdat-health.ts, the rule
 * delivery uses too.
 */
import { chunkDelayed } from '../client/bdat-health.js';

import { maskedKeywords } from '../protocol/ehlo.js';

export const VERDICTS = [
  'unreachable',
  'bdat-dropped',
  'bdat-reset',
  'bdat-refused',
  'keywords-masked',
  'chunks-delayed',
  'data-failed',
  'banner-masked',
  'starttls-failed',
  'no-starttls',
  'rcpt-refused',
  'no-chunking',
  'clean',
] as const;
export type Verdict = (typeof VERDICTS)[number];

export type TlsResult =
  | { readonly state: 'not-offered' }
  /** The probe was told to leave TLS alone (--no-tls): STARTTLS is neither tried nor judged. */
  | { readonly state: 'skipped'; readonly offered: boolean }
  | {
      readonly state: 'ok';
      readonly protocol: string;
      readonly cipher: string;
      /** Whether the chain verifies against the system's CAs (opportunistic TLS does not require it). */
      readonly authorized: boolean;
      readonly authorizationError?: string;
      /** Whether the certificate names the host probed (RFC 6125); undefined when probing an IP address. */
      readonly hostnameMatches?: boolean;
    }
  | { readonly state: 'failed'; readonly error: string };

/** How the one non-final BDAT chunk fared. */
export interface BdatObservation {
  /** CHUNKING was in the EHLO reply of the session the chunk was sent in. */
  readonly advertised: boolean;
  readonly outcome: 'ok' | 'refused' | 'reset' | 'timeout';
  readonly ms: number;
  /** The reply ("250 2.0.0 OK") or what went wrong ("no reply within 10000 ms"). */
  readonly detail: string;
}

export interface Observations {
  /** "host:port", for the plain words. */
  readonly target: string;
  readonly host: string;
  readonly port: number;
  readonly rcpt: string;
  readonly slowChunkMs: number;
  /** Why the probe could not start, when it could not (connect error, no banner, greeting refused). */
  readonly unreachable?: string;
  /** The banner as one line, "220 mx.example ESMTP". */
  readonly banner?: string;
  /** Every EHLO keyword line seen, cleartext and over TLS, for the masking check. */
  readonly keywords: readonly string[];
  /** CHUNKING was offered in the session the BDAT test ran in. */
  readonly chunking: boolean;
  readonly tls: TlsResult;
  /** The refused command and its reply, "RCPT TO:<postmaster> -> 550 5.1.1 no such user". */
  readonly envelopeRefused?: string;
  readonly bdat?: BdatObservation;
  /** The DATA test: whether DATA got its 354, and the reply or error. */
  readonly data?: { readonly ok: boolean; readonly ms: number; readonly detail: string };
}

export interface Judgement {
  readonly verdict: Verdict;
  /** Every verdict that applies, in priority order; the first is `verdict`. */
  readonly findings: readonly Verdict[];
  /** The plain words for `verdict`. */
  readonly text: string;
  /** The plain words for each finding, same order as `findings`. */
  readonly texts: readonly string[];
  readonly exitCode: 0 | 1 | 2;
  /** What Barge's delivery would do: BDAT only when CHUNKING is offered and a chunk was answered 250. */
  readonly usesBdat: boolean;
}

/** "220 ****" or "220" alone: the device replaced the server's greeting text (RFC 5321 4.3.1). */
export function isMaskedBanner(banner: string): boolean {
  const text = banner.replace(/^\d{3}[ -]?/, '').trim();
  // PIX-style banners are stars with a few digits sprinkled in: "220 ****2*0*0****".
  return text === '' || (/^[*\d\s]+$/.test(text) && text.includes('*'));
}

export function exitCodeFor(verdict: Verdict): 0 | 1 | 2 {
  if (verdict === 'unreachable') return 2;
  return verdict === 'clean' || verdict === 'no-chunking' ? 0 : 1;
}

export function judge(o: Observations): Judgement {
  const masked = maskedKeywords(o.keywords);
  const applies = (v: Verdict): boolean => {
    const b = o.bdat;
    switch (v) {
      case 'unreachable':
        return o.unreachable !== undefined;
      case 'bdat-dropped':
        return b !== undefined && b.outcome === 'timeout' && (b.advertised || masked.length > 0);
      case 'bdat-reset':
        return b !== undefined && b.outcome === 'reset';
      case 'bdat-refused':
        return b !== undefined && b.outcome === 'refused' && (b.advertised || masked.length > 0);
      case 'keywords-masked':
        return masked.length > 0;
      case 'chunks-delayed':
        return b !== undefined && b.outcome === 'ok' && chunkDelayed(b.ms, o.slowChunkMs);
      case 'data-failed':
        return o.data !== undefined && !o.data.ok;
      case 'banner-masked':
        return o.banner !== undefined && isMaskedBanner(o.banner);
      case 'starttls-failed':
        return o.tls.state === 'failed';
      case 'no-starttls':
        return o.tls.state === 'not-offered';
      case 'rcpt-refused':
        return o.envelopeRefused !== undefined;
      case 'no-chunking':
        return !o.chunking;
      case 'clean':
        return true;
      default:
        return unreachable(v);
    }
  };
  // Nothing past the greeting was tested, so nothing else may be claimed. 'no-chunking' and 'clean'
  // describe a path with no problem, so they are findings only when no problem was found.
  const problems: Verdict[] =
    o.unreachable !== undefined ? ['unreachable'] : VERDICTS.filter((v) => v !== 'no-chunking' && v !== 'clean' && applies(v));
  const real: Verdict[] = problems.length > 0 ? problems : [applies('no-chunking') ? 'no-chunking' : 'clean'];
  const verdict = real[0] ?? 'clean';
  const texts = real.map((f) => explain(f, o, masked));
  return {
    verdict,
    findings: real,
    text: texts[0] ?? '',
    texts,
    exitCode: exitCodeFor(verdict),
    usesBdat: o.unreachable === undefined && o.chunking && o.bdat?.outcome === 'ok',
  };
}

function unreachable(v: never): never {
  throw new Error(`unknown verdict ${String(v)}`);
}

/** A route that makes Barge send DATA to this host, as a TOML line the user can paste. */
function pinData(o: Observations): string {
  const domain = /@([^@>]+)$/.exec(o.rcpt)?.[1] ?? 'example.com';
  const hop = o.host.includes(':') ? `[${o.host}]:${o.port}` : `${o.host}:${o.port}`;
  return `[routes] "${domain}" = { next_hop = "${hop}", chunking = "never" }`;
}

function seconds(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1)} s` : `${Math.round(ms)} ms`;
}

export function explain(v: Verdict, o: Observations, masked: readonly string[] = maskedKeywords(o.keywords)): string {
  const b = o.bdat;
  const list = masked.join(', ');
  switch (v) {
    case 'unreachable':
      return `Could not probe ${o.target}: ${o.unreachable ?? 'no banner'}. Check the host name, the port and any firewall in between.`;
    case 'bdat-dropped':
      return b?.advertised === true
        ? `CHUNKING is advertised but BDAT is dropped on this path (${b.detail}): an ESMTP-inspecting device is likely. ` +
            `Deliveries by BDAT to this destination will time out; turn the inspection off, or pin DATA: ${pinData(o)}`
        : `EHLO keywords are masked (${list}) and BDAT is dropped on this path (${b?.detail ?? 'no reply'}): a firewall's ESMTP inspection hides CHUNKING and black-holes BDAT. ` +
            `Barge sees no CHUNKING and uses DATA; turn the inspection off to get BDAT back.`;
    case 'bdat-reset':
      return (
        `The connection was closed right after BDAT (${b?.detail ?? 'reset'}): an ESMTP-inspecting device on the path likely kills chunked transfers. ` +
        `Turn its SMTP inspection off, or pin DATA for this destination: ${pinData(o)}`
      );
    case 'bdat-refused':
      return b?.advertised === true
        ? `CHUNKING is advertised but BDAT was refused (${b.detail}): a device on the path answers BDAT as an unknown command, or the server is misconfigured. ` +
            `Pin DATA for this destination: ${pinData(o)}`
        : `EHLO keywords are masked (${list}) and BDAT is answered by the path (${b?.detail ?? 'refused'}): a firewall's ESMTP inspection hides CHUNKING and refuses BDAT itself. ` +
            `Barge sees no CHUNKING and uses DATA; turn the inspection off to get BDAT back.`;
    case 'keywords-masked':
      return `EHLO keywords are masked (${list}): a firewall's ESMTP inspection is rewriting the reply. Turn it off, or pin DATA for this destination: ${pinData(o)}`;
    case 'chunks-delayed':
      return (
        `A non-final BDAT chunk was answered only after ${seconds(b?.ms ?? 0)} (limit ${seconds(o.slowChunkMs)}): something on the path holds each chunk (tarpitting). ` +
        `Large messages sent by BDAT will be slow or time out; turn the inspection off, or pin DATA: ${pinData(o)}`
      );
    case 'data-failed':
      return `The recipient was accepted but DATA was not (${o.data?.detail ?? 'no reply'}): mail cannot be delivered by DATA on this path either. Check the server's and the path's logs.`;
    case 'banner-masked':
      return `The banner is masked (${o.banner ?? ''}): a firewall's SMTP inspection replaces the server's greeting. Harmless by itself, but it shows a device inspecting SMTP on this path.`;
    case 'starttls-failed':
      return (
        `STARTTLS is offered but failed (${o.tls.state === 'failed' ? o.tls.error : 'error'}): mail to this destination goes in cleartext. ` +
        `Either the server's TLS setup is broken or a device on the path interferes with the handshake.`
      );
    case 'no-starttls':
      return (
        'STARTTLS is not offered: mail to this destination travels in cleartext. ' +
        "Either the server lacks it, or a device on the path strips it from the EHLO reply (compare with an EHLO sent from inside the server's network)."
      );
    case 'rcpt-refused':
      return `Could not test the path: the probe's envelope was refused (${o.envelopeRefused ?? 'refused'}). Probe again with a recipient the server accepts: --rcpt ADDRESS`;
    case 'no-chunking':
      return 'The path looks clean, but the server does not offer CHUNKING: Barge will use DATA for this destination.';
    case 'clean':
      return `The path is clean: CHUNKING is offered and a BDAT chunk was answered in ${seconds(b?.ms ?? 0)}. Barge will use BDAT for this destination.`;
    default:
      return unreachable(v);
  }
}
