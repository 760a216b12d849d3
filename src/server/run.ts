/**
 * Runs Barge's server: the spool, the queue runner, the logs and one TCP listener per configured
 * listener, until stopped. `startServer` is what tests use (ports may be 0); `runServer` adds the
 * signal handling of `barge serve`. This is the composition root: outbound delivery is wired in
 * delivery-wiring.ts, listeners and their sessions' contexts in listeners.ts; here are the shared
 * parts (spool, logs, metrics, TLS, authenticator), queue requests, reload and stop.
 */
import { join } from 'node:path';
import type { Config } from '../config/types.js';
import type { W3cLog } from '../log/w3c.js';
import { TrackingLog, type TrackingEvent } from '../log/tracking.js';
import { Spool, type SpoolEnvelope } from '../queue/spool.js';
import type { Listening } from '../client/loop.js';
import type { QueueRunner } from '../queue/runner.js';
import { makeIdSource } from '../queue/ids.js';
import { realTimers, type Timers } from '../time/timers.js';
import { EtrnPolicy, relayBlockList } from './policy.js';
import { TlsCredentials } from './tls.js';
import type { QuirkStore } from '../client/quirks.js';
import { Authenticator } from './authenticator.js';
import { usersPath } from '../auth/users.js';
import type { BargeMetrics } from '../admin/metrics.js';
import { applyRequest, queueCounts } from '../cli/queue.js';
import { serveRequests, type ControlRequest } from '../queue/control.js';
import type { RunningAdmin } from '../admin/server.js';
import { reloadServer, removePid, writePid, type ReloadResult } from './reload.js';
import { wireDelivery } from './delivery-wiring.js';
import { Listeners } from './listeners.js';
import { CheckPool } from '../mailauth/check-pool.js';

export interface RunningServer {
  /** Bound addresses, in listener order (useful when a port was 0). */
  readonly addresses: ReadonlyArray<{ readonly name: string; readonly host: string; readonly port: number }>;
  readonly runner: QueueRunner;
  readonly spool: Spool;
  /** The server's TLS credentials; undefined when no listener offers TLS. */
  readonly tls: TlsCredentials | undefined;
  /** The most reply octets any open connection has waiting for its client (tests and metrics). */
  replyBacklog(): number;
  /** Prometheus metrics, kept only when the console (which serves /metrics) is configured. */
  readonly metrics: BargeMetrics | undefined;
  readonly quirks: QuirkStore;
  /** Queue size by state, at most 10 s old (counting reads the state files: slow with a large queue). */
  queueCounts(): Promise<ReadonlyMap<string, number>>;
  /** The configuration new sessions and deliveries use (it changes on reload). */
  config(): Config;
  /**
   * Takes a new configuration: new sessions get its verbs, routes and limits; sessions in progress
   * finish under the old one. Returns notes on settings that need a restart (listener addresses).
   */
  reload(next: Config): string[];
  /** Records a tracking event as the server does (console actions). */
  track(event: TrackingEvent): void;
  /** Writes buffered log lines to disk (tests and admin tools read the files). */
  flushLogs(): Promise<void>;
  /** Stops accepting, ends sessions (421 4.3.2), waits for commits and deliveries, closes logs. */
  stop(): Promise<void>;
}

export interface ServerDeps {
  readonly now?: () => Date;
  /** What idle timeouts run on; a test's virtual clock gives both this and `now`. */
  readonly timers?: Timers;
  readonly say?: (line: string) => void;
  /** MTA-STS trust anchors and policy port instead of the system's CAs and 443 (tests with a private CA). */
  readonly mtaSts?: { readonly ca?: readonly string[]; readonly port?: number };
}

/** Paths under the data directory. */
export function dataPaths(dataDir: string): { spool: string; mail: string; log: string; tracking: string } {
  return { spool: join(dataDir, 'spool'), mail: join(dataDir, 'mail'), log: join(dataDir, 'log'), tracking: join(dataDir, 'log', 'tracking') };
}

export async function startServer(config: Config, deps: ServerDeps = {}): Promise<RunningServer> {
  const now = deps.now ?? ((): Date => new Date());
  const timers = deps.timers ?? realTimers;
  const say = deps.say ?? ((): void => undefined);
  const paths = dataPaths(config.dataDir);
  let sessions = (): number => 0;
  // One client connected: its records may be written inline (see the segment log's INLINE_WRITE).
  const spool = await Spool.open(paths.spool, { soleWriter: () => sessions() === 1 });
  const onLogError = (e: Error): void => say(`barge: log write failed: ${e.message}`);
  const tracking = config.log.tracking ? new TrackingLog({ dir: paths.tracking, now, onError: onLogError }) : undefined;
  // Only the console reads the metrics: without it, prom-client is never loaded.
  const metrics = config.admin === undefined ? undefined : new (await import('../admin/metrics.js')).BargeMetrics(now);
  // Metrics are derived from the tracking events: one observer, no counters spread through the code.
  const track = (event: TrackingEvent): void => {
    tracking?.record(event);
    metrics?.observe(event);
  };
  let current = config;
  const nextId = makeIdSource(now);
  const logs: W3cLog[] = [];
  /** Bound listeners, so delivery never targets Barge itself. */
  const listening: Listening[] = [];
  const { pool, quirks, lookup, runner } = await wireDelivery({
    config, current: () => current, now, timers, track, spool, nextId, mailRoot: paths.mail, mtaSts: deps.mtaSts, listening,
    outboundLog: () => logs[0],
  });
  let relay = relayBlockList(config.relayNetworks);
  const etrnPolicy = new EtrnPolicy(() => relay, config.limits.etrnIntervalMs, now);
  const tls = config.listeners.some((l) => l.tls !== 'off') ? await TlsCredentials.open(config, now) : undefined;
  const authenticator = new Authenticator({ usersFile: usersPath(config.dataDir), ...config.auth, now, warn: say });
  // The inbound checks ask the resolver MTA-STS uses (one cache); their worker starts on the first check.
  const checks = new CheckPool({ resolver: lookup, maxParallel: () => current.mailAuthMaxParallelChecks });
  const listeners = new Listeners({
    config, current: () => current, relay: () => relay, now, timers, track, spool, nextId, runner, metrics, tls, authenticator, etrnPolicy, checks,
    logDir: paths.log, onLogError, logs, listening,
  });
  sessions = () => listeners.openConnections;
  await listeners.listenAll();
  if (!config.queue.hold) runner.start();
  // `barge queue` changes while the server runs arrive as requests (queue/control.ts).
  const queued = (id: string, env: SpoolEnvelope): void => (config.queue.hold ? undefined : runner.wake(id, env));
  const applied = async (r: ControlRequest): Promise<number> => {
    const changed = await applyRequest({ spool, nextId, hostname: config.hostname, localDomains: config.localDomains, now, track, queued }, r);
    // The runner's due-time index learns of the change (a flush makes every entry due now).
    if (r.id !== undefined) await runner.reschedule(r.id);
    else if (!config.queue.hold) void runner.scan();
    return changed;
  };
  const control = await serveRequests(paths.spool, applied, (e) => say(`barge: queue request failed: ${String(e)}`));
  let counted: { at: number; counts: Promise<Map<string, number>> } | undefined;
  const counts = (): Promise<Map<string, number>> => {
    if (counted === undefined || performance.now() - counted.at > 10_000) counted = { at: performance.now(), counts: queueCounts(spool) };
    return counted.counts;
  };
  metrics?.attach({
    queueByState: counts,
    openConnections: () => listeners.openConnections,
    oldestMessageAgeSeconds: async () => {
      // Queue ids begin with the arrival time in base-36 milliseconds (queue/ids.ts).
      const first = (await spool.list()).sort()[0];
      return first === undefined ? 0 : Math.max(0, (now().getTime() - parseInt(first.slice(0, 9), 36)) / 1000);
    },
  });

  const reload = (next: Config): string[] => {
    current = next;
    relay = relayBlockList(next.relayNetworks);
    return listeners.reload(next);
  };

  let stopping: Promise<void> | undefined;
  const stop = async (): Promise<void> => {
    listeners.close();
    await listeners.endSessions();
    await checks.close();
    control.close();
    await runner.stop();
    await spool.close();
    await pool.close();
    await Promise.all([...logs.map((l) => l.close()), tracking?.close()]);
  };
  return {
    addresses: listeners.addresses,
    runner,
    spool,
    tls,
    replyBacklog: () => listeners.replyBacklog(),
    metrics,
    quirks,
    queueCounts: counts,
    config: () => current,
    reload,
    track,
    flushLogs: async () => {
      await Promise.all([...logs.map((l) => l.flush()), tracking?.flush()]);
    },
    stop: () => (stopping ??= stop()),
  };
}

/** How `barge serve` reads its configuration again (SIGHUP, `barge reload`, the console). */
export interface ServeOptions {
  readonly load: () => Promise<Config>;
  /** Builds a configuration from config-file text with the command line's flags (throws ConfigError). */
  readonly check: (text: string) => Promise<Config>;
  /** The file the console writes: the config file, or the console's settings file in the data directory. */
  readonly configFile: string;
}

/** `barge serve`: runs until SIGINT/SIGTERM, then stops cleanly. Returns the exit code. */
export async function runServer(config: Config, say: (line: string) => void, options?: ServeOptions): Promise<number> {
  const server = await startServer(config, { say });
  const r = server.spool.recovery;
  const torn = r.tornSegments > 0 ? `; ${r.tornSegments} torn write(s) at a segment's end ignored (never acknowledged)` : '';
  say(`barge: spool recovered ${r.messages} message(s) from ${r.segments} segment(s) in ${r.ms.toFixed(0)} ms${torn}`);
  for (const a of server.addresses) say(`barge: listening on ${a.host}:${a.port} (${a.name}); data in ${config.dataDir}`);
  say(`barge: local domains ${config.localDomains.join(', ')}; mail delivered under ${dataPaths(config.dataDir).mail}`);
  const tls = server.tls;
  if (tls !== undefined) say(`barge: STARTTLS with ${tls.description}`);
  const load = options?.load ?? (async (): Promise<Config> => config);
  let admin: RunningAdmin | undefined;
  // SIGHUP re-reads the configuration and the certificate without dropping a connection.
  const reload = async (): Promise<ReloadResult> => {
    const result = await reloadServer(server, load);
    admin?.refreshTls();
    say(`barge: ${result.message}`);
    return result;
  };
  const onHup = (): void => void reload();
  process.on('SIGHUP', onHup);
  await writePid(config.dataDir);
  try {
    if (config.admin !== undefined && options !== undefined) {
      // Loaded only when the console is on: with `--admin-listen off` its web framework stays out of memory.
      const { startAdmin } = await import('../admin/server.js');
      admin = await startAdmin(config, { server, reload, check: options.check, configFile: options.configFile });
      say(`barge: console and /metrics at ${admin.url}`);
      if (admin.setupUrl !== undefined) say(`barge: no console administrator yet; log in once with ${admin.setupUrl}`);
    }
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
  } finally {
    process.off('SIGHUP', onHup);
    say('barge: stopping');
    await admin?.close();
    await server.stop();
    await removePid(config.dataDir);
  }
  return 0;
}
