/**
 * Runs Barge's server: the spool, the queue runner, the logs and one TCP listener per configured
 * listener, until stopped. `startServer` is what tests use (ports may be 0); `runServer` adds the
 * signal handling of `barge serve`. This is the composition root: outbound delivery is wired in
 * delivery-wiring.ts, listeners and their sessions' contexts in listeners.ts; here are the shared
 * parts (spool, logs, metrics, TLS, authenticator), queue requests, reload and stop.
 */
import type { Config } from '../config/types.js';
import { dataPaths } from '../config/paths.js';
import type { W3cLog } from '../log/w3c.js';
import { TrackingLog, type TrackingEvent } from '../log/tracking.js';
import { keepLogs } from '../log/retention.js';
import { Spool, type SpoolEnvelope } from '../queue/spool.js';
import type { Listening } from '../client/loop.js';
import { makeIdSource } from '../message/queue-id.js';
import { realClock } from '../time/clock.js';
import { EtrnPolicy, relayBlockList } from '../server/policy.js';
import { loadTlsMaterial, TlsCredentials } from '../server/tls.js';
import { Authenticator } from '../server/authenticator.js';
import { usersPath } from '../auth/users.js';
import { LoginGuard } from '../auth/login-guard.js';
import { applyRequest, queueCounts } from '../queue/operations.js';
import { serveRequests, type ControlRequest } from '../queue/control.js';
import type { RunningAdmin } from '../admin/server.js';
import { reloadServer, removePid, writePid, type ReloadResult } from './reload.js';
import { wireDelivery } from './delivery-wiring.js';
import { Listeners } from '../server/listeners.js';
import { TUNING } from './tuning.js';
import { readPacer } from '../server/read-pacer.js';
import type { RunningServer, ServerDeps } from '../server/running.js';
import { CheckPool } from '../mailauth/check-pool.js';

import { bugReporter } from '../log/bug.js';
import { loadDkimKeys } from '../mailauth/sign-queued.js';
import { restartNeeded } from '../server/reload-notes.js';
import { takeIdentity } from './privileges.js';
import { notifyReady } from './systemd-notify.js';

export type { RunningServer, ServerDeps } from '../server/running.js';

export async function startServer(config: Config, deps: ServerDeps = {}): Promise<RunningServer> {
  const clock = deps.clock ?? realClock;
  const say = deps.say ?? ((): void => undefined);
  const paths = dataPaths(config.dataDir);
  let sessions = (): number => 0;
  const spool = await Spool.open(paths.spool, { inlineWrites: () => TUNING.inlineLoneWrites(sessions()) });
  const onLogError = (e: Error): void => say(`barge: log write failed: ${e.message}`);
  const tracking = config.log.tracking ? new TrackingLog({ dir: paths.tracking, clock, onError: onLogError }) : undefined;
  // Only the console reads the metrics: without it, prom-client is never loaded.
  const metrics = config.admin === undefined ? undefined : new (await import('../log/metrics.js')).BargeMetrics(clock);
  // Metrics are derived from the tracking events: one observer, no counters spread through the code.
  const track = (event: TrackingEvent): void => {
    tracking?.record(event);
    metrics?.observe(event);
  };
  const bug = bugReporter(track, deps.bugs ?? ((text) => void process.stderr.write(text)));
  let current = config;
  // Day files older than `[log] keep_days` go at start and once a day.
  const retention = keepLogs({
    logDir: paths.log,
    keepDays: () => current.log.keepDays,
    clock,
    onError: (e) => say(`barge: removing old log files failed: ${e.message}`),
  });
  const nextId = makeIdSource(clock);
  const logs: W3cLog[] = [];
  /** Bound listeners, so delivery never targets Barge itself. */
  const listening: Listening[] = [];
  const { pool, quirks, lookup, runner, useDkimKeys } = await wireDelivery({
    config,
    current: () => current,
    clock,
    track,
    bug,
    spool,
    nextId,
    mailRoot: paths.mail,
    mtaSts: deps.mtaSts,
    listening,
    outboundLog: () => logs[0],
    ...(deps.faults?.outbound === undefined ? {} : { fault: deps.faults.outbound }),
  });
  let relay = relayBlockList(config.relayNetworks);
  const etrnPolicy = new EtrnPolicy(() => relay, config.limits.etrnIntervalMs, clock);
  const tls = config.listeners.some((l) => l.tls !== 'off') ? await TlsCredentials.open(config, clock) : undefined;
  const logins = new LoginGuard({ ...config.auth, clock });
  const authenticator = new Authenticator({ usersFile: usersPath(config.dataDir), guard: logins, warn: say });
  // The inbound checks ask the resolver MTA-STS uses (one cache); their worker starts on the first check.
  const checks = new CheckPool({ resolver: lookup, maxParallel: () => current.mailAuthMaxParallelChecks, clock });
  const listeners = new Listeners({
    config,
    current: () => current,
    relay: () => relay,
    clock,
    track,
    bug,
    spool,
    nextId,
    runner,
    metrics,
    tls,
    authenticator,
    etrnPolicy,
    checks,
    logDir: paths.log,
    onLogError,
    logs,
    listening,
    paceRead: readPacer(TUNING.collectAfterReadOctets),
    warn: say,
    prebound: deps.prebound,
    ...(deps.faults?.inbound === undefined ? {} : { fault: deps.faults.inbound }),
  });
  sessions = () => listeners.openConnections;
  try {
    await listeners.listenAll();
  } catch (e) {
    // Nothing was accepted yet: close what was opened, so the failure is the only thing left to report.
    await Promise.all([spool.close(), pool.close(), ...logs.map((l) => l.close()), tracking?.close()]);
    throw e;
  }
  // Loaded only with [acme]: the HTTP-01 listener and the schedule (the ACME library runs in a child process).
  const acme =
    tls === undefined || config.acme === undefined
      ? undefined
      : await (await import('../acme/renewer.js')).AcmeRenewer.start(config.acme, {
          dataDir: config.dataDir,
          clock,
          say,
          install: (pem, names, source) => tls.useAcme(pem, names, source),
        });
  if (!config.queue.hold) runner.start();
  // `barge queue` changes while the server runs arrive as requests (queue/control.ts).
  const queued = (id: string, env: SpoolEnvelope): void => (config.queue.hold ? undefined : runner.wake(id, env));
  const applied = async (r: ControlRequest): Promise<number> => {
    const changed = await applyRequest(
      { spool, nextId, hostname: config.hostname, localDomains: config.localDomains, clock, track, queued },
      r,
    );
    // The runner's due-time index learns of the change (a flush makes every entry due now).
    if (r.id !== undefined) await runner.reschedule(r.id);
    else if (!config.queue.hold) void runner.scan();
    return changed;
  };
  const control = await serveRequests(paths.spool, applied, (e) => say(`barge: queue request failed: ${String(e)}`));
  let counted: { at: number; counts: Promise<Map<string, number>> } | undefined;
  const counts = (): Promise<Map<string, number>> => {
    // performance.now(): monotonic, only the age of the cached counts.
    if (counted === undefined || performance.now() - counted.at > 10_000) counted = { at: performance.now(), counts: queueCounts(spool) };
    return counted.counts;
  };
  metrics?.attach({
    queueByState: counts,
    openConnections: () => listeners.openConnections,
    certificates: () => tls?.certificates() ?? [],
    acmeFailures: () => acme?.status().failures,
    oldestMessageAgeSeconds: async () => {
      // Queue ids begin with the arrival time in base-36 milliseconds (queue/ids.ts).
      const first = (await spool.list()).sort()[0];
      return first === undefined ? 0 : Math.max(0, (clock.now().getTime() - parseInt(first.slice(0, 9), 36)) / 1000);
    },
  });

  const reload = async (next: Config): Promise<string[]> => {
    // What can fail is read first, so a refused reload changes nothing.
    const material = tls === undefined ? undefined : await loadTlsMaterial(next, clock);
    const dkimKeys = await loadDkimKeys(next);
    current = next;
    relay = relayBlockList(next.relayNetworks);
    if (material !== undefined) tls?.use(material);
    useDkimKeys(dkimKeys);
    const restart = restartNeeded(config, next, tls !== undefined);
    return [...listeners.reload(next), ...(restart.length === 0 ? [] : [`restart needed for ${restart.join(', ')} (running values kept)`])];
  };

  let stopping: Promise<void> | undefined;
  const stop = async (): Promise<void> => {
    listeners.close();
    await acme?.close();
    await listeners.endSessions();
    await checks.close();
    control.close();
    await runner.stop();
    await spool.close();
    await pool.close();
    retention.stop();
    await Promise.all([...logs.map((l) => l.close()), tracking?.close(), retention.idle()]);
  };
  return {
    addresses: listeners.addresses,
    runner,
    spool,
    tls,
    acme,
    replyBacklog: () => listeners.replyBacklog(),
    metrics,
    quirks,
    logins,
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
  // Started as root with `user` set: the listeners are bound now, and the rest runs as that user.
  const { prebound, notes } = await takeIdentity(config, options?.configFile);
  const server = await startServer(config, { say, prebound }).catch((e: unknown) => {
    prebound?.close();
    throw e;
  });
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
  try {
    if (config.admin !== undefined && options !== undefined) {
      // Loaded only when the console is on: with `--admin-listen off` its web framework stays out of memory.
      const { startAdmin } = await import('../admin/server.js');
      admin = await startAdmin(config, { server, reload, check: options.check, configFile: options.configFile, prebound });
      say(`barge: console and /metrics at ${admin.url}`);
      if (admin.setupUrl !== undefined) say(`barge: no console administrator yet; log in once with ${admin.setupUrl}`);
    }
    prebound?.close();
    for (const note of notes) say(note);
    // Only a server that started whole is findable by `barge reload`, and ready for systemd.
    await writePid(config.dataDir);
    await notifyReady(process.env, `listening on ${server.addresses.map((a) => `${a.host}:${a.port}`).join(', ')}`, say);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
  } finally {
    process.off('SIGHUP', onHup);
    prebound?.close();
    say('barge: stopping');
    await admin?.close();
    await server.stop();
    await removePid(config.dataDir);
  }
  return 0;
}
