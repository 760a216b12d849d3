/**
 * `barge probe`'s socket work: talk to one SMTP server the way Barge's delivery would, record every
 * step with its latency, and hand the observations to verdict.ts. Nothing is ever delivered: the BDAT
 * test sends one non-final chunk then RSET (RFC 3030 2, RFC 5321 4.1.1.5), twice on one connection
 * (some devices drop only a connection's second BDAT transaction), and the DATA test closes
 * the connection after 354 without the end-of-data dot (RFC 5321 4.1.1.4: the server acts on the
 * transaction only at the end of the mail data).
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { checkServerIdentity, connect as tlsConnect } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { ReplyParser, replyText, type PeerReply } from '../protocol/reply-parser.js';
import { maskedKeywords } from '../protocol/ehlo.js';
import { judgeChunk, type ChunkAnswer } from '../client/bdat-health.js';
import { judge, type BdatObservation, type Observations, type TlsResult, type Verdict } from './verdict.js';

/**
 * `from` defaults to '' (the null sender, which never gets a bounce); `rcpt` to 'postmaster' (RFC 5321
 * 4.5.1: every server must accept it); `timeoutMs` (each connect, reply and handshake) to 10000; `tls`
 * (try STARTTLS when offered) to true; `slowChunkMs` (later is 'chunks-delayed') to 2000.
 */
export interface ProbeOptions {
  readonly host: string;
  readonly port: number;
  readonly helo: string;
  readonly from?: string;
  readonly rcpt?: string;
  readonly timeoutMs?: number;
  readonly tls?: boolean;
  readonly slowChunkMs?: number;
}

export interface StepRecord {
  readonly step: string;
  /** The command sent ('' for the banner, "connect HOST:PORT", "TLS handshake"). */
  readonly command: string;
  readonly reply?: { readonly code: number; readonly text: string };
  readonly error?: string;
  readonly ms: number;
}

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

type Failure = { readonly failure: 'timeout' | 'closed' | 'garbled'; readonly error: string };
type Answer = PeerReply | Failure;
const failed = (a: Answer): a is Failure => 'failure' in a;
const positive = (a: Answer): a is PeerReply => !failed(a) && a.code >= 200 && a.code < 300;
const show = (a: Answer): string => (failed(a) ? a.error : replyText(a));
const has = (keywords: readonly string[], name: string): boolean => keywords.some((k) => (k.trim().split(/\s+/)[0] ?? '').toUpperCase() === name);

/** One connection: bytes in, whole replies out, with a deadline per reply. */
class Wire {
  #socket: Socket;
  #parser = new ReplyParser();
  #replies: PeerReply[] = [];
  #ended: Failure | undefined;
  #wake: (() => void) | undefined;
  /** A reply may still arrive for a request that timed out; nothing read after it can be trusted. */
  #spoiled = false;

  constructor(socket: Socket) {
    this.#socket = socket;
    this.#attach(socket);
  }

  static open(host: string, port: number, timeoutMs: number): Promise<Wire | Failure> {
    return new Promise((resolve) => {
      const socket = netConnect({ host, port, timeout: timeoutMs });
      const fail = (error: string): void => {
        socket.destroy();
        resolve({ failure: 'closed', error });
      };
      socket.once('timeout', () => fail(`no connection within ${timeoutMs} ms`)).once('error', (e: NodeJS.ErrnoException) => fail(e.code ?? e.message));
      socket.once('connect', () => {
        socket.setTimeout(0).removeAllListeners('error').removeAllListeners('timeout').setNoDelay(true);
        resolve(new Wire(socket));
      });
    });
  }

  #onData = (bytes: Buffer): void => {
    // Line by line, so replies completed before a malformed line are still delivered.
    try {
      for (let start = 0; start < bytes.length; ) {
        const lf = bytes.indexOf(0x0a, start);
        const end = lf < 0 ? bytes.length : lf + 1;
        this.#replies.push(...this.#parser.feed(bytes.subarray(start, end)));
        start = end;
      }
    } catch (e) {
      this.#end({ failure: 'garbled', error: e instanceof Error ? e.message : String(e) });
      this.#socket.destroy();
    }
    this.#wake?.();
  };
  #onError = (e: NodeJS.ErrnoException): void => this.#end({ failure: 'closed', error: `connection reset (${e.code ?? e.message})` });
  #onEnd = (): void => this.#end({ failure: 'closed', error: 'connection closed by the peer' });

  #attach(socket: Socket): void {
    socket.on('data', this.#onData).on('error', this.#onError).on('end', this.#onEnd).on('close', this.#onEnd);
  }

  #end(f: Failure): void {
    this.#ended ??= f;
    this.#wake?.();
  }

  get usable(): boolean {
    return this.#ended === undefined && !this.#spoiled;
  }

  send(bytes: string | Buffer): void {
    if (this.#ended === undefined) this.#socket.write(bytes);
  }

  reply(timeoutMs: number): Promise<Answer> {
    return new Promise((resolve) => {
      const settle = (): boolean => {
        const next = this.#replies.shift() ?? this.#ended;
        if (next === undefined) return false;
        clearTimeout(timer);
        this.#wake = undefined;
        resolve(next);
        return true;
      };
      const timer = setTimeout(() => {
        this.#wake = undefined;
        this.#spoiled = true;
        resolve({ failure: 'timeout', error: `no reply within ${timeoutMs} ms` });
      }, timeoutMs);
      if (!settle()) this.#wake = () => void settle();
    });
  }

  /** RFC 3207 4: after 220 to STARTTLS, the TLS handshake; replies read before it are discarded. */
  startTls(host: string, timeoutMs: number): Promise<TlsResult> {
    // Cleartext after the 220 that is no reply (garbage, or an injection attempt) already broke the stream.
    if (this.#ended !== undefined) return Promise.resolve({ state: 'failed', error: `TLS handshake failed: ${this.#ended.error}` });
    const plain = this.#socket;
    plain.off('data', this.#onData).off('end', this.#onEnd).off('close', this.#onEnd);
    this.#parser = new ReplyParser();
    this.#replies = [];
    // SNI takes host names only (RFC 6066 3).
    const secure = tlsConnect({ socket: plain, rejectUnauthorized: false, ...(isIP(host) === 0 ? { servername: host } : {}) });
    return new Promise((resolve) => {
      const fail = (error: string): void => {
        clearTimeout(timer);
        secure.destroy();
        this.#end({ failure: 'closed', error });
        resolve({ state: 'failed', error });
      };
      const timer = setTimeout(() => fail(`no TLS handshake within ${timeoutMs} ms`), timeoutMs);
      secure.once('error', (e: NodeJS.ErrnoException) => fail(`TLS handshake failed: ${e.code ?? e.message}`));
      secure.once('close', () => fail('connection closed during the TLS handshake'));
      secure.once('secureConnect', () => {
        clearTimeout(timer);
        secure.removeAllListeners('error').removeAllListeners('close');
        this.#socket = secure;
        this.#attach(secure);
        const reason: unknown = secure.authorizationError;
        resolve({
          state: 'ok',
          protocol: secure.getProtocol() ?? 'unknown',
          cipher: secure.getCipher().name,
          authorized: secure.authorized,
          ...(reason === undefined || reason === null ? {} : { authorizationError: reason instanceof Error ? reason.message : String(reason) }),
          ...(isIP(host) === 0 ? { hostnameMatches: checkServerIdentity(host, secure.getPeerCertificate()) === undefined } : {}),
        });
      });
    });
  }

  close(): void {
    this.#socket.destroy();
  }
}

interface Session {
  readonly wire: Wire;
  readonly banner: string;
  /** Keywords of the EHLO the session goes on with (over TLS when TLS worked). */
  readonly keywords: readonly string[];
  /** Keywords of the cleartext EHLO (what a device on the path sees and may rewrite). */
  readonly cleartext: readonly string[];
  readonly tls: TlsResult;
}

/** Records each step; `prefix` names the second (DATA test) connection's steps apart. */
class Recorder {
  readonly steps: StepRecord[] = [];
  prefix = '';
  constructor(readonly o: Required<ProbeOptions>) {}

  record(step: string, command: string, outcome: Answer | undefined, ms: number): void {
    const result = outcome === undefined ? {} : failed(outcome) ? { error: outcome.error } : { reply: { code: outcome.code, text: replyText(outcome) } };
    this.steps.push({ step: `${this.prefix}${step}`, command, ...result, ms: Math.round(ms) });
  }

  async ask(wire: Wire, step: string, command: string, payload?: Buffer): Promise<Answer> {
    const t0 = performance.now();
    if (command !== '') wire.send(payload === undefined ? `${command}\r\n` : Buffer.concat([Buffer.from(`${command}\r\n`, 'latin1'), payload]));
    const answer = await wire.reply(this.o.timeoutMs);
    this.record(step, payload === undefined ? command : `${command} (+${payload.length} octets)`, answer, performance.now() - t0);
    return answer;
  }

  /** Connect, banner, EHLO (HELO when EHLO gets 5xx, RFC 5321 3.2); a string says why not. */
  async greet(): Promise<{ wire: Wire; banner: string; keywords: string[] } | string> {
    const { host, port, helo, timeoutMs } = this.o;
    const t0 = performance.now();
    const wire = await Wire.open(host, port, timeoutMs);
    this.record('connect', `connect ${host.includes(':') ? `[${host}]` : host}:${port}`, wire instanceof Wire ? undefined : wire, performance.now() - t0);
    if (!(wire instanceof Wire)) return `could not connect (${wire.error})`;
    const banner = await this.ask(wire, 'banner', '');
    if (failed(banner) || banner.code !== 220) {
      wire.close();
      return failed(banner) ? `no banner (${banner.error})` : `the server refused the session (${replyText(banner)})`;
    }
    let hello = await this.ask(wire, 'ehlo', `EHLO ${helo}`);
    const ehlo = positive(hello);
    if (!ehlo && !failed(hello) && hello.code >= 500) hello = await this.ask(wire, 'helo', `HELO ${helo}`);
    if (!positive(hello)) {
      wire.close();
      return `the greeting was refused (${show(hello)})`;
    }
    return { wire, banner: replyText(banner), keywords: ehlo ? hello.lines.slice(1) : [] };
  }

  /** A session as a real MTA opens one: STARTTLS when offered and wanted, cleartext when TLS fails. */
  async session(tryTls: boolean): Promise<Session | string> {
    const first = await this.greet();
    if (typeof first === 'string') return first;
    const plain = { ...first, cleartext: first.keywords };
    const offered = has(first.keywords, 'STARTTLS');
    if (!tryTls) return { ...plain, tls: { state: 'skipped', offered } };
    if (!offered) return { ...plain, tls: { state: 'not-offered' } };
    const answer = await this.ask(first.wire, 'starttls', 'STARTTLS');
    let tls: TlsResult;
    if (!failed(answer) && answer.code === 220) {
      const t0 = performance.now();
      tls = await first.wire.startTls(this.o.host, this.o.timeoutMs);
      this.record('tls', 'TLS handshake', tls.state === 'failed' ? { failure: 'closed', error: tls.error } : undefined, performance.now() - t0);
      if (tls.state === 'ok') {
        // RFC 3207 4.2: forget what was learnt before TLS and ask again.
        const again = await this.ask(first.wire, 'ehlo', `EHLO ${this.o.helo}`);
        if (positive(again)) return { ...plain, keywords: again.lines.slice(1), tls };
        tls = { state: 'failed', error: `EHLO over TLS failed (${show(again)})` };
      }
    } else if (!failed(answer)) {
      // A refused STARTTLS leaves the session usable in cleartext (RFC 3207 4).
      return { ...plain, tls: { state: 'failed', error: `STARTTLS refused (${replyText(answer)})` } };
    } else tls = { state: 'failed', error: `no answer to STARTTLS (${answer.error})` };
    // Like an MTA with opportunistic TLS: start over in cleartext, without STARTTLS this time.
    first.wire.close();
    const retry = await this.greet();
    if (typeof retry === 'string') return `${tls.state === 'failed' ? tls.error : 'TLS failed'}, then ${retry}`;
    return { ...retry, cleartext: first.keywords, tls };
  }

  /** MAIL and RCPT; a string is the refusal, for 'rcpt-refused'. */
  async envelope(wire: Wire): Promise<string | undefined> {
    for (const [step, command] of [['mail', `MAIL FROM:<${this.o.from}>`], ['rcpt', `RCPT TO:<${this.o.rcpt}>`]] as const) {
      const answer = await this.ask(wire, step, command);
      if (!positive(answer)) return `${command} -> ${show(answer)}`;
    }
    return undefined;
  }
}

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
    envelopeRefused = await rec.envelope(first.wire);
    if (envelopeRefused === undefined) {
      // RFC 3030 2: the chunk follows its BDAT command at once; the reply comes after the chunk.
      const answer = await rec.ask(first.wire, 'bdat', `BDAT ${PROBE_CHUNK.length}`, PROBE_CHUNK);
      const ms = rec.steps.at(-1)?.ms ?? 0;
      bdat = { advertised: chunking, outcome: chunkOutcome(answer, ms, o.slowChunkMs), ms, detail: show(answer) };
      if (bdat.outcome === 'ok') bdat = await secondTransaction(rec, first.wire, bdat);
    }
  }
  await closeGently(rec, first.wire);
  first.wire.close();

  let data: Observations['data'];
  if (envelopeRefused === undefined) {
    rec.prefix = 'data-test ';
    const second = await rec.session(o.tls && first.tls.state !== 'failed');
    if (typeof second === 'string') data = { ok: false, ms: 0, detail: `second connection: ${second}` };
    else {
      envelopeRefused = await rec.envelope(second.wire);
      if (envelopeRefused === undefined) {
        const answer = await rec.ask(second.wire, 'data', 'DATA');
        data = { ok: !failed(answer) && answer.code === 354, ms: rec.steps.at(-1)?.ms ?? 0, detail: show(answer) };
      }
      // Closing without the end-of-data dot abandons the transaction (RFC 5321 4.1.1.4).
      second.wire.close();
    }
  }
  const tested = { ...(envelopeRefused === undefined ? {} : { envelopeRefused }), ...(bdat === undefined ? {} : { bdat }), ...(data === undefined ? {} : { data }) };
  return report(o, rec, { ...base, banner: first.banner, keywords: seen, chunking, tls: first.tls, ...tested }, first.cleartext);
}

/**
 * Some devices pass the first BDAT transaction of a connection and drop the second (delivery checks
 * a reused session once for this too): RSET, then the same envelope and chunk again, as "second" steps.
 */
async function secondTransaction(rec: Recorder, wire: Wire, first: BdatObservation): Promise<BdatObservation> {
  if (!positive(await rec.ask(wire, 'rset', 'RSET'))) return first;
  rec.prefix = 'second ';
  try {
    if ((await rec.envelope(wire)) !== undefined) return first;
    const answer = await rec.ask(wire, 'bdat', `BDAT ${PROBE_CHUNK.length}`, PROBE_CHUNK);
    const ms = rec.steps.at(-1)?.ms ?? 0;
    const outcome = chunkOutcome(answer, ms, rec.o.slowChunkMs);
    return outcome === 'ok' ? first : { advertised: first.advertised, outcome, ms, detail: `second transaction on one connection: ${show(answer)}` };
  } finally {
    rec.prefix = '';
  }
}

/** The probe's words for how its chunk fared, by the rule delivery uses (bdat-health.ts). */
function chunkOutcome(answer: Answer, ms: number, slowChunkMs: number): BdatObservation['outcome'] {
  if (failed(answer) && answer.failure === 'garbled') return 'refused';
  const timed: ChunkAnswer = !failed(answer) ? { kind: 'reply', code: answer.code, ms } : answer.failure === 'timeout' ? { kind: 'timeout', ms } : { kind: 'closed', ms };
  const verdict = judgeChunk(timed, false, slowChunkMs);
  return verdict === 'dropped' ? 'timeout' : verdict === 'reset' ? 'reset' : verdict === 'refused' || verdict === 'rejected' ? 'refused' : 'ok';
}

/** RSET then QUIT. A path that took BDAT for an unknown verb may answer the chunk's line too: skip such extra errors. */
async function closeGently(rec: Recorder, wire: Wire): Promise<void> {
  if (!wire.usable) return;
  let answer = await rec.ask(wire, 'rset', 'RSET');
  for (let extra = 0; extra < 2 && !failed(answer) && !positive(answer); extra++) answer = await rec.ask(wire, 'rset', '');
  if (wire.usable) await rec.ask(wire, 'quit', 'QUIT');
}

function report(o: Required<ProbeOptions>, rec: Recorder, obs: Observations, keywords: readonly string[]): ProbeReport {
  const { verdict, exitCode, text, findings, texts, usesBdat } = judge(obs);
  const banner = obs.banner === undefined ? {} : { banner: obs.banner };
  return { host: o.host, port: o.port, verdict, exitCode, text, findings, texts, ...banner, keywords, maskedKeywords: maskedKeywords(obs.keywords), tls: obs.tls, steps: rec.steps, usesBdat };
}
