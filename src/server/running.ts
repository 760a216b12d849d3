/**
 * The running server as the faces (console, command line) and the tests see it: what the
 * composition root (app/run.ts) builds and hands them. Declared here so that no face imports app/.
 */
import type { Config } from '../config/types.js';
import type { TrackingEvent } from '../log/tracking.js';
import type { BargeMetrics } from '../log/metrics.js';
import type { Spool } from '../queue/spool.js';
import type { QueueRunner } from '../queue/runner.js';
import type { QuirkStore } from '../client/quirks.js';
import type { LoginGuard } from '../auth/login-guard.js';
import type { TlsCredentials } from './tls.js';
import type { AcmeStatus } from '../acme/renewer.js';
import type { Clock } from '../time/clock.js';
import type { FaultHook } from './connection-boundary.js';
import type { Prebound } from './listen.js';

export interface RunningServer {
  /** Bound addresses, in listener order (useful when a port was 0). */
  readonly addresses: ReadonlyArray<{ readonly name: string; readonly host: string; readonly port: number }>;
  readonly runner: QueueRunner;
  readonly spool: Spool;
  /** The server's TLS credentials; undefined when no listener offers TLS. */
  readonly tls: TlsCredentials | undefined;
  /** The ACME renewer's state; undefined without `[acme]` (or without a TLS listener). */
  readonly acme: { status(): AcmeStatus } | undefined;
  /** The most reply octets any open connection has waiting for its client (tests and metrics). */
  replyBacklog(): number;
  /** Prometheus metrics, kept only when the console (which serves /metrics) is configured. */
  readonly metrics: BargeMetrics | undefined;
  readonly quirks: QuirkStore;
  /** The failed-login limit and scrypt slots SMTP AUTH and the console's login form share. */
  readonly logins: LoginGuard;
  /** Queue size by state, at most 10 s old (counting reads the state files: slow with a large queue). */
  queueCounts(): Promise<ReadonlyMap<string, number>>;
  /** The configuration new sessions and deliveries use (it changes on reload). */
  config(): Config;
  /**
   * Takes a new configuration. First the files it names are read (TLS certificate and key, DKIM
   * keys): one that is missing or invalid throws a ConfigError naming it, and nothing changes. Then
   * new sessions get its verbs, routes and limits, new TLS handshakes its certificate, messages
   * taken from now on its DKIM keys; sessions in progress finish under the old one. Returns notes
   * on the settings that need a restart (listener addresses, reload-notes.ts). Callers go through
   * reloadServer, which runs one reload at a time.
   */
  reload(next: Config): Promise<string[]>;
  /** Records a tracking event as the server does (console actions). */
  track(event: TrackingEvent): void;
  /** Writes buffered log lines to disk (tests and admin tools read the files). */
  flushLogs(): Promise<void>;
  /** Stops accepting, ends sessions (421 4.3.2), waits for commits and deliveries, closes logs. */
  stop(): Promise<void>;
}

export interface ServerDeps {
  /** Time and timers (the real clock when unset; a test's virtual clock). */
  readonly clock?: Clock;
  readonly say?: (line: string) => void;
  /** MTA-STS trust anchors and policy port instead of the system's CAs and 443 (tests with a private CA). */
  readonly mtaSts?: { readonly ca?: readonly string[]; readonly port?: number };
  /** Where the stacks of bugs caught by an error boundary are written (stderr when unset). */
  readonly bugs?: (text: string) => void;
  /**
   * Tests only: make inbound connections or outbound sessions fail as a bug would (their error
   * boundaries' seams). Nothing outside the process can set these: `barge serve` never does.
   */
  readonly faults?: { readonly inbound?: FaultHook; readonly outbound?: (replies: string) => void };
  /** Sockets bound before the process gave up root (app/privileges.ts): each listener takes its own. */
  readonly prebound?: Prebound | undefined;
}
