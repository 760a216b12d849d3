/**
 * `barge probe`: talk to one SMTP server the way Barge's delivery would (the same client session and
 * socket shell, steps.ts), record every step with its latency, and hand the observations to
 * verdict.ts. Nothing is ever delivered: the BDAT test sends one non-final chunk then RSET (RFC 3030 2,
 * RFC 5321 4.1.1.5), twice on one connection (some devices drop only a connection's second BDAT
 * transaction), and the DATA test closes the connection after 354 without the end-of-data dot
 * (RFC 5321 4.1.1.4: the server acts on the transaction only at the end of the mail data).
 */
import { maskedKeywords } from '../protocol/ehlo.js';
import { judgeChunk, type ChunkAnswer } from '../client/bdat-health.js';
import type { SessionSocket } from '../client/session-socket.js';
import { failed, positive, Recorder, show, type Answer, type ProbeOptions, type StepRecord } from './steps.js';
import { judge, type BdatObservation, type Observations, type TlsResult, type Verdict } from './verdict.js';

export type { ProbeOptions, StepRecord };

const has = (keywords: readonly string[], name: string): boolean =>
  keywords.some((k) => (k.trim().split(/\s+/)[0] ?? '').toUpperCase() === name);

export interface ProbeReport {
  readonly host: string;
  readonly port: number;
  readonly verdict: Verdict;
  readonly exitCode: 0 | 1 | 2;
  readonly text: string;
  readonly findings: readonly Verdict[];
  /** Plain words for each finding, same order. */
  readonly texts: readonly string[];
  readonly banner?: string;
  /** Keyword lines of the cleartext EHLO reply (what a device on the path sees and may rewrite). */
  readonly keywords: readonly string[];
  readonly maskedKeywords: readonly string[];
  readonly tls: TlsResult;
  readonly steps: readonly StepRecord[];
  readonly usesBdat: boolean;
}

/** 64 octets of harmless header text for the one BDAT chunk (never followed by BDAT LAST). */
export const PROBE_CHUNK = Buffer.from(`${'X-Barge-Probe: path test, never completed or delivered'.padEnd(62, '.')}\r\n`, 'latin1');

export async function probePath(options: ProbeOptions): Promise<ProbeReport> {
  const o: Required<ProbeOptions> = { from: '', rcpt: 'postmaster', timeoutMs: 10_000, tls: true, slowChunkMs: 2000, ...options };
  const rec = new Recorder(o);
  const target = `${o.host.includes(':') ? `[${o.host}]` : o.host}:${o.port}`;
  const base = { target, host: o.host, port: o.port, rcpt: o.rcpt, slowChunkMs: o.slowChunkMs };
  const first = await rec.session(o.tls);
  if (typeof first === 'string') {
    return report(o, rec, { ...base, unreachable: first, keywords: [], chunking: false, tls: { state: 'skipped', offered: false } }, []);
  }
  const seen = [...new Set([...first.cleartext, ...first.keywords])];
  const masked = maskedKeywords(seen);
  const chunking = has(first.keywords, 'CHUNKING');
  let envelopeRefused: string | undefined;
  let bdat: BdatObservation | undefined;
  // Without CHUNKING there is nothing to test, unless the keywords are masked: then see what the
  // path does with BDAT (it should answer 500/502 as an unknown command, RFC 5321 4.2.4).
  if (chunking || masked.length > 0) {
    envelopeRefused = await rec.envelope(first.socket);
    if (envelopeRefused === undefined) {
      // RFC 3030 2: the chunk follows its BDAT command at once; the reply comes after the chunk.
      const answer = await rec.ask(first.socket, 'bdat', 'BDAT', `BDAT ${PROBE_CHUNK.length}`, PROBE_CHUNK);
      const ms = rec.steps.at(-1)?.ms ?? 0;
      bdat = { advertised: chunking, outcome: chunkOutcome(answer, ms, o.slowChunkMs), ms, detail: show(answer) };
      if (bdat.outcome === 'ok') bdat = await secondTransaction(rec, first.socket, bdat);
    }
  }
  await closeGently(rec, first.socket);
  first.socket.destroy();

  let data: Observations['data'];
  if (envelopeRefused === undefined) {
    rec.prefix = 'data-test ';
    const second = await rec.session(o.tls && first.tls.state !== 'failed');
    if (typeof second === 'string') data = { ok: false, ms: 0, detail: `second connection: ${second}` };
    else {
      envelopeRefused = await rec.envelope(second.socket);
      if (envelopeRefused === undefined) {
        const answer = await rec.ask(second.socket, 'data', 'DATA', 'DATA');
        data = { ok: !failed(answer) && answer.code === 354, ms: rec.steps.at(-1)?.ms ?? 0, detail: show(answer) };
      }
      // Closing without the end-of-data dot abandons the transaction (RFC 5321 4.1.1.4).
      second.socket.destroy();
    }
  }
  const tested = {
    ...(envelopeRefused === undefined ? {} : { envelopeRefused }),
    ...(bdat === undefined ? {} : { bdat }),
    ...(data === undefined ? {} : { data }),
  };
  return report(o, rec, { ...base, banner: first.banner, keywords: seen, chunking, tls: first.tls, ...tested }, first.cleartext);
}

/**
 * Some devices pass the first BDAT transaction of a connection and drop the second (delivery checks
 * a reused session once for this too): RSET, then the same envelope and chunk again, as "second" steps.
 */
async function secondTransaction(rec: Recorder, socket: SessionSocket, first: BdatObservation): Promise<BdatObservation> {
  if (!positive(await rec.ask(socket, 'rset', 'RSET', 'RSET'))) return first;
  rec.prefix = 'second ';
  try {
    if ((await rec.envelope(socket)) !== undefined) return first;
    const answer = await rec.ask(socket, 'bdat', 'BDAT', `BDAT ${PROBE_CHUNK.length}`, PROBE_CHUNK);
    const ms = rec.steps.at(-1)?.ms ?? 0;
    const outcome = chunkOutcome(answer, ms, rec.o.slowChunkMs);
    return outcome === 'ok'
      ? first
      : { advertised: first.advertised, outcome, ms, detail: `second transaction on one connection: ${show(answer)}` };
  } finally {
    rec.prefix = '';
  }
}

/** The probe's words for how its chunk fared, by the rule delivery uses (bdat-health.ts). */
function chunkOutcome(answer: Answer, ms: number, slowChunkMs: number): BdatObservation['outcome'] {
  if (failed(answer) && answer.failure === 'garbled') return 'refused';
  const timed: ChunkAnswer = !failed(answer)
    ? { kind: 'reply', code: answer.code, ms }
    : answer.failure === 'timeout'
      ? { kind: 'timeout', ms }
      : { kind: 'closed', ms };
  const verdict = judgeChunk(timed, false, slowChunkMs);
  return verdict === 'dropped'
    ? 'timeout'
    : verdict === 'reset'
      ? 'reset'
      : verdict === 'refused' || verdict === 'rejected'
        ? 'refused'
        : 'ok';
}

/** RSET then QUIT. A path that took BDAT for an unknown verb may answer the chunk's line too: skip such extra errors. */
async function closeGently(rec: Recorder, socket: SessionSocket): Promise<void> {
  if (socket.closed) return;
  let answer = await rec.ask(socket, 'rset', 'RSET', 'RSET');
  for (let extra = 0; extra < 2 && !failed(answer) && !positive(answer); extra++) answer = await rec.ask(socket, 'rset', 'RSET', '');
  if (!socket.closed) await rec.ask(socket, 'quit', 'QUIT', 'QUIT');
}

function report(o: Required<ProbeOptions>, rec: Recorder, obs: Observations, keywords: readonly string[]): ProbeReport {
  const { verdict, exitCode, text, findings, texts, usesBdat } = judge(obs);
  const banner = obs.banner === undefined ? {} : { banner: obs.banner };
  return {
    host: o.host,
    port: o.port,
    verdict,
    exitCode,
    text,
    findings,
    texts,
    ...banner,
    keywords,
    maskedKeywords: maskedKeywords(obs.keywords),
    tls: obs.tls,
    steps: rec.steps,
    usesBdat,
  };
}
