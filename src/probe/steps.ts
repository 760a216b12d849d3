/**
 * `barge probe`'s sessions, as steps with their latencies: each connection is the client session
 * over its socket shell (client/session-socket.ts), the same greeting, EHLO-to-HELO fallback and
 * STARTTLS delivery uses; the probe only times each step from the shell's protocol-log events and
 * sends its scripted commands one by one (`ask`).
 */
import { performance } from 'node:perf_hooks';
import { keywordLines } from '../protocol/ehlo.js';
import type { ClientOutcome, PeerCapabilities, Stage } from '../protocol/client-types.js';
import { SessionSocket } from '../client/session-socket.js';
import type { TlsResult } from './verdict.js';

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

export type Failure = { readonly failure: 'timeout' | 'closed' | 'garbled'; readonly error: string };
export type Answer = { readonly code: number; readonly text: string } | Failure;
export const failed = (a: Answer): a is Failure => 'failure' in a;
export const positive = (a: Answer): boolean => !failed(a) && a.code >= 200 && a.code < 300;
export const show = (a: Answer): string => (failed(a) ? a.error : a.text);

export interface ProbeSession {
  readonly socket: SessionSocket;
  readonly banner: string;
  /** Keywords of the EHLO the session goes on with (over TLS when TLS worked). */
  readonly keywords: readonly string[];
  /** Keywords of the cleartext EHLO (what a device on the path sees and may rewrite). */
  readonly cleartext: readonly string[];
  readonly tls: TlsResult;
}

const lines = (caps: PeerCapabilities | undefined): string[] => (caps?.esmtp === true ? keywordLines(caps.keywords) : []);
const isAddress = (host: string): boolean => host.includes(':') || /^[\d.]+$/.test(host);

/** Records each step; `prefix` names the second (DATA test) connection's steps apart. */
export class Recorder {
  readonly steps: StepRecord[] = [];
  prefix = '';
  constructor(readonly o: Required<ProbeOptions>) {}

  record(step: string, command: string, outcome: Answer | undefined, ms: number): void {
    const result =
      outcome === undefined ? {} : failed(outcome) ? { error: outcome.error } : { reply: { code: outcome.code, text: outcome.text } };
    this.steps.push({ step: `${this.prefix}${step}`, command, ...result, ms: Math.round(ms) });
  }

  /** One scripted command and its reply ('' with no payload: read a reply still owed). */
  async ask(socket: SessionSocket, step: string, stage: Stage, command: string, payload?: Buffer): Promise<Answer> {
    const t0 = performance.now();
    const answer = this.#answer(await socket.ask(stage, command, payload));
    this.record(step, payload === undefined ? command : `${command} (+${payload.length} octets)`, answer, performance.now() - t0);
    return answer;
  }

  /** MAIL and RCPT; a string is the refusal, for 'rcpt-refused'. */
  async envelope(socket: SessionSocket): Promise<string | undefined> {
    const steps = [
      ['mail', 'MAIL', `MAIL FROM:<${this.o.from}>`],
      ['rcpt', 'RCPT', `RCPT TO:<${this.o.rcpt}>`],
    ] as const;
    for (const [step, stage, command] of steps) {
      const answer = await this.ask(socket, step, stage, command);
      if (!positive(answer)) return `${command} -> ${show(answer)}`;
    }
    return undefined;
  }

  /** A session as a real MTA opens one: STARTTLS when offered and wanted, cleartext when TLS fails. */
  async session(tryTls: boolean): Promise<ProbeSession | string> {
    const first = await this.#open(tryTls);
    if (typeof first === 'string' || first.tlsError === undefined) return first;
    // Like an MTA with opportunistic TLS: start over in cleartext, without STARTTLS this time.
    const retry = await this.#open(false);
    if (typeof retry === 'string') return `${first.tlsError}, then ${retry}`;
    return { ...retry, cleartext: first.cleartext, tls: { state: 'failed', error: first.tlsError } };
  }

  /** Connect, banner, EHLO (HELO when EHLO gets 5xx, RFC 5321 3.2), STARTTLS; a string says why not. */
  async #open(tryTls: boolean): Promise<(ProbeSession & { readonly tlsError?: string }) | string> {
    const { host, port, helo, timeoutMs } = this.o;
    const t0 = performance.now();
    let pending = { step: 'banner', command: '', at: t0 };
    let awaiting = false;
    let handshakeFrom: number | undefined;
    let starttls: Answer | undefined;
    /** Steps come from the log while the session opens; scripted commands record their own. */
    let opening = true;
    const opened = await SessionSocket.open({
      host,
      port,
      connectTimeoutMs: timeoutMs,
      timeouts: { commandMs: timeoutMs, bdatCheckMs: timeoutMs, endOfDataMs: timeoutMs },
      session: { heloName: helo, tls: tryTls ? 'opportunistic' : 'none' },
      onConnect: () => {
        this.record('connect', `connect ${host.includes(':') ? `[${host}]` : host}:${port}`, undefined, performance.now() - t0);
        pending = { step: 'banner', command: '', at: performance.now() };
        awaiting = true;
      },
      log: (direction, text) => {
        if (!opening) return;
        const now = performance.now();
        if (direction === 'command') {
          if (handshakeFrom !== undefined) this.record('tls', 'TLS handshake', undefined, now - handshakeFrom);
          handshakeFrom = undefined;
          pending = { step: (text.split(' ')[0] ?? '').toLowerCase(), command: text, at: now };
          awaiting = true;
          return;
        }
        const reply = { code: Number(text.slice(0, 3)), text };
        this.record(pending.step, pending.command, reply, now - pending.at);
        awaiting = false;
        if (pending.step === 'starttls') starttls = reply;
        if (pending.step === 'starttls' && reply.code === 220) handshakeFrom = now;
      },
    });
    const { socket, outcome } = opened;
    opening = false;
    if (!opened.connected) {
      const error = opened.error ?? 'connection failed';
      this.record(
        'connect',
        `connect ${host.includes(':') ? `[${host}]` : host}:${port}`,
        { failure: 'closed', error },
        performance.now() - t0,
      );
      return `could not connect (${error})`;
    }
    const banner = this.steps.find((s) => s.step === `${this.prefix}banner`)?.reply?.text ?? '';
    if (outcome.kind === 'ready') {
      const keywords = lines(outcome.caps);
      const cleartext = lines(socket.cleartextCaps);
      return { socket, banner, keywords, cleartext, tls: this.#tls(tryTls, socket, cleartext, starttls) };
    }
    const failure = this.#answer(outcome);
    if (outcome.kind === 'tlsFailure') {
      this.record('tls', 'TLS handshake', { failure: 'closed', error: outcome.reason }, performance.now() - (handshakeFrom ?? t0));
      return {
        socket,
        banner,
        keywords: [],
        cleartext: lines(socket.cleartextCaps),
        tls: { state: 'failed', error: outcome.reason },
        tlsError: outcome.reason,
      };
    }
    if (awaiting) this.record(pending.step, pending.command, failure, performance.now() - pending.at);
    socket.destroy();
    if (socket.tls !== undefined) {
      const tlsError = `EHLO over TLS failed (${show(failure)})`;
      return { socket, banner, keywords: [], cleartext: lines(socket.cleartextCaps), tls: { state: 'failed', error: tlsError }, tlsError };
    }
    if (pending.step === 'starttls') {
      const tlsError = `no answer to STARTTLS (${show(failure)})`;
      return { socket, banner, keywords: [], cleartext: lines(socket.cleartextCaps), tls: { state: 'failed', error: tlsError }, tlsError };
    }
    if (pending.step === 'banner')
      return failed(failure) ? `no banner (${failure.error})` : `the server refused the session (${failure.text})`;
    return `the greeting was refused (${show(failure)})`;
  }

  #tls(tryTls: boolean, socket: SessionSocket, cleartext: readonly string[], starttls: Answer | undefined): TlsResult {
    const offered = cleartext.some((k) => (k.split(' ')[0] ?? '').toUpperCase() === 'STARTTLS');
    if (!tryTls) return { state: 'skipped', offered };
    if (!offered) return { state: 'not-offered' };
    const t = socket.tls;
    // A refused STARTTLS leaves the session usable in cleartext (RFC 3207 4).
    if (t === undefined) return { state: 'failed', error: `STARTTLS refused (${starttls === undefined ? 'no reply' : show(starttls)})` };
    const { host } = this.o;
    return {
      state: 'ok',
      protocol: t.protocol,
      cipher: t.cipher,
      authorized: t.authorized,
      ...(t.authorizationError === undefined ? {} : { authorizationError: t.authorizationError }),
      ...(isAddress(host) ? {} : { hostnameMatches: t.nameMatches }),
    };
  }

  /** A scripted step's outcome as the probe words it. */
  #answer(o: ClientOutcome): Answer {
    switch (o.kind) {
      case 'answer':
      case 'rejected':
        return { code: o.code, text: o.text };
      case 'timeout':
        return { failure: 'timeout', error: `no reply within ${this.o.timeoutMs} ms` };
      case 'connectionLost':
        return { failure: o.reason.startsWith('not an SMTP reply') ? 'garbled' : 'closed', error: o.reason };
      case 'tlsFailure':
      case 'pathFailure':
      case 'localFailure':
        return { failure: 'closed', error: o.reason };
      default:
        return { failure: 'closed', error: `unexpected ${o.kind}` };
    }
  }
}
