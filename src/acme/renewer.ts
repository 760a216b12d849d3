/**
 * Keeps an ACME certificate (RFC 8555) for `[acme] names` in service. At start it serves the stored
 * one when it still covers the names and is valid, else orders one at once (the listeners serve the
 * other certificates meanwhile: mail is never held up by a CA). It renews 30 days before expiry, or
 * with a third of its lifetime left for certificates shorter than 90 days, and hands each new
 * certificate to `install`, so new handshakes present it without a restart. A failed order is
 * logged, counted and retried after 2, 4, 8, ... minutes (at most 6 hours): never more than five
 * failures an hour, within Let's Encrypt's limit on failed validations. Time is the injected clock's.
 */
import { readFile } from 'node:fs/promises';
import type { AcmeConfig } from '../config/types.js';
import type { Clock, TimerHandle } from '../time/clock.js';
import { ChallengeResponder } from './challenges.js';
import { orderCertificate } from './order.js';
import { accountKey, acmeDir, certificateFile, type Issued, newPrivateKey, readIssued, writeIssued } from './store.js';

export const RENEWAL = {
  beforeExpiryMs: 30 * 86_400_000,
  firstRetryMs: 2 * 60_000,
  maxRetryMs: 6 * 3_600_000,
  /** The timer is re-armed at least daily: node's cannot wait longer than about 24.8 days. */
  longestWaitMs: 86_400_000,
} as const;

/** What the console shows and /metrics counts. */
export interface AcmeStatus {
  readonly directory: string;
  readonly names: readonly string[];
  /** The port HTTP-01 is answered on. */
  readonly httpPort: number;
  /** The certificate being served. */
  readonly certificate: { readonly serial: string; readonly notAfter: Date } | undefined;
  readonly lastSuccess: Date | undefined;
  /** When the next order starts: the renewal time, or the retry after a failure. */
  readonly nextAttempt: Date | undefined;
  readonly lastError: { readonly at: Date; readonly message: string } | undefined;
  /** Failed orders since the server started. */
  readonly failures: number;
  readonly ordering: boolean;
}

export interface RenewerDeps {
  readonly dataDir: string;
  readonly clock: Clock;
  readonly say: (line: string) => void;
  /** Serves the certificate for `names` from the next handshake on; throws when it cannot. */
  readonly install: (pem: { readonly cert: string; readonly key: string }, names: readonly string[], source: string) => void;
}

/** When a certificate is renewed: 30 days before expiry, or with a third of a short lifetime left. */
export function renewalTime(c: Pick<Issued, 'notBefore' | 'notAfter'>): Date {
  const lifetime = c.notAfter.getTime() - c.notBefore.getTime();
  return new Date(c.notAfter.getTime() - Math.min(RENEWAL.beforeExpiryMs, lifetime / 3));
}

export class AcmeRenewer {
  readonly #config: AcmeConfig;
  readonly #deps: RenewerDeps;
  readonly #responder: ChallengeResponder;
  readonly #extraCa: string | undefined;
  readonly #dir: string;
  readonly #stop = new AbortController();
  #current: Issued | undefined;
  #timer: TimerHandle | undefined;
  #next: Date | undefined;
  #lastSuccess: Date | undefined;
  #lastError: { at: Date; message: string } | undefined;
  #failures = 0;
  #failuresInARow = 0;
  #ordering = false;

  private constructor(config: AcmeConfig, deps: RenewerDeps, responder: ChallengeResponder, extraCa: string | undefined) {
    this.#config = config;
    this.#deps = deps;
    this.#responder = responder;
    this.#extraCa = extraCa;
    this.#dir = acmeDir(deps.dataDir);
  }

  /** Binds the HTTP-01 listener (throws when it cannot), serves a stored certificate if it is good, and schedules the next order. */
  static async start(config: AcmeConfig, deps: RenewerDeps): Promise<AcmeRenewer> {
    const extraCa = config.caFile === undefined ? undefined : await readFile(config.caFile, 'utf8');
    const renewer = new AcmeRenewer(config, deps, await ChallengeResponder.listen(config.httpListen), extraCa);
    const stored = await readIssued(renewer.#dir);
    const now = deps.clock.now();
    const usable = stored !== undefined && stored.notAfter > now && config.names.every((n) => stored.names.includes(n));
    renewer.#arm(usable && renewer.#serve(stored) ? renewalTime(stored) : now);
    return renewer;
  }

  status(): AcmeStatus {
    const c = this.#current;
    return {
      directory: this.#config.directory,
      names: this.#config.names,
      httpPort: this.#responder.port,
      certificate: c === undefined ? undefined : { serial: c.serial, notAfter: c.notAfter },
      lastSuccess: this.#lastSuccess,
      nextAttempt: this.#next,
      lastError: this.#lastError,
      failures: this.#failures,
      ordering: this.#ordering,
    };
  }

  /** Stops the schedule, ends an order in progress and closes the HTTP-01 listener. */
  async close(): Promise<void> {
    this.#stop.abort();
    this.#timer?.cancel();
    await this.#responder.close();
  }

  /** Hands the certificate to the listeners; false (and said) when they cannot use it. */
  #serve(issued: Issued): boolean {
    try {
      this.#deps.install({ cert: issued.chain, key: issued.key }, this.#config.names, `ACME certificate ${certificateFile(this.#dir)}`);
    } catch (e) {
      this.#deps.say(`barge: ACME certificate ${certificateFile(this.#dir)} not used: ${e instanceof Error ? e.message : String(e)}`);
      return false;
    }
    this.#current = issued;
    return true;
  }

  /** Orders at `at`, waking at least daily to compare with the clock. */
  #arm(at: Date): void {
    this.#timer?.cancel();
    this.#next = at;
    const wait = Math.max(0, Math.min(at.getTime() - this.#deps.clock.now().getTime(), RENEWAL.longestWaitMs));
    this.#timer = this.#deps.clock.after(wait, () => {
      if (this.#stop.signal.aborted) return;
      if (this.#deps.clock.now() < at) this.#arm(at);
      else void this.#order();
    });
  }

  async #order(): Promise<void> {
    if (this.#ordering) return;
    this.#ordering = true;
    const started = performance.now();
    const names = this.#config.names;
    try {
      const request = {
        kind: 'order' as const,
        directory: this.#config.directory,
        email: this.#config.email,
        names,
        accountKey: await accountKey(this.#dir),
        certificateKey: await newPrivateKey(),
        extraCa: this.#extraCa,
      };
      const chain = await orderCertificate(request, this.#responder, this.#stop.signal);
      const issued = await writeIssued(this.#dir, request.certificateKey, chain);
      if (this.#stop.signal.aborted) return;
      if (!this.#serve(issued)) throw new Error('the new certificate could not be served');
      this.#lastSuccess = this.#deps.clock.now();
      this.#failuresInARow = 0;
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      this.#deps.say(
        `barge: ACME certificate for ${names.join(', ')} obtained in ${seconds} s (serial ${issued.serial}, valid until ${issued.notAfter.toISOString()})`,
      );
      // Never sooner than a retry would be: a CA that issues already-due certificates must not be asked in a loop.
      const soonest = this.#deps.clock.now().getTime() + RENEWAL.firstRetryMs;
      this.#arm(new Date(Math.max(renewalTime(issued).getTime(), soonest)));
    } catch (e) {
      if (this.#stop.signal.aborted) return;
      const message = e instanceof Error ? e.message : String(e);
      this.#failures++;
      this.#failuresInARow++;
      this.#lastError = { at: this.#deps.clock.now(), message };
      const delay = Math.min(RENEWAL.firstRetryMs * 2 ** (this.#failuresInARow - 1), RENEWAL.maxRetryMs);
      this.#deps.say(
        `barge: ACME order for ${names.join(', ')} failed (${this.#failuresInARow} in a row), retrying in ${delay / 60_000} min: ${message}`,
      );
      this.#arm(new Date(this.#deps.clock.now().getTime() + delay));
    } finally {
      this.#ordering = false;
    }
  }
}
