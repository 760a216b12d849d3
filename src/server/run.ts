/**
 * Runs Barge's server: the spool, the queue runner, the logs and one TCP listener per configured
 * listener, until stopped. `startServer` is what tests use (ports may be 0); `runServer` adds the
 * signal handling of `barge serve`.
 */
import { Resolver } from 'node:dns/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Config, ListenerConfig } from '../config/types.js';
import type { W3cLog } from '../log/w3c.js';
import { TrackingLog, type TrackingEvent } from '../log/tracking.js';
import { formatReply, Reply } from '../protocol/replies.js';
import { Spool, type SpoolEnvelope } from '../queue/spool.js';
import { sendNotices } from '../queue/bounces.js';
import type { DsnNotice } from '../queue/attempt.js';
import { deliverToDomain, type DeliveryContext } from '../client/deliver.js';
import type { NextHop } from '../client/routes.js';
import { BdatInFlight } from '../client/in-flight.js';
import { SessionPool } from '../client/pool.js';
import { machineAddresses, type Listening } from '../client/loop.js';
import { outboundAllowsBdat } from '../protocol/extensions.js';
import { QueueRunner } from '../queue/runner.js';
import { makeIdSource } from '../queue/ids.js';
import { Connection, type ConnectionContext } from './connection.js';
import { EtrnPolicy, inRelayNetworks, plainIp, recipientChecker, relayBlockList } from './policy.js';
import { screenedCommit } from '../mailauth/inbound.js';
import { cachingResolver } from '../mailauth/dns-cache.js';
import { MtaSts } from '../client/tls-policy.js';
import { tlsRequiredNo } from '../client/tls-required.js';
import { TlsCredentials } from './tls.js';
import { QuirkStore, quirksPath } from '../client/quirks.js';
import { Authenticator } from './authenticator.js';
import { usersPath } from '../auth/users.js';
import { loadDkimKeys, queueSigner } from '../mailauth/sign-queued.js';
import { BargeMetrics, ObservedW3cLog } from '../admin/metrics.js';
import { applyRequest, queueCounts } from '../cli/queue.js';
import { serveRequests, type ControlRequest } from '../queue/control.js';
import { startAdmin, type RunningAdmin } from '../admin/server.js';
import { reloadServer, removePid, writePid, type ReloadResult } from './reload.js';

export interface RunningServer {
  /** Bound addresses, in listener order (useful when a port was 0). */
  readonly addresses: ReadonlyArray<{ readonly name: string; readonly host: string; readonly port: number }>;
  readonly runner: QueueRunner;
  readonly spool: Spool;
  /** The server's TLS credentials; undefined when no listener offers TLS. */
  readonly tls: TlsCredentials | undefined;
  /** The most reply octets any open connection has waiting for its client (tests and metrics). */
  replyBacklog(): number;
  readonly metrics: BargeMetrics;
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
  const say = deps.say ?? ((): void => undefined);
  const paths = dataPaths(config.dataDir);
  const spool = await Spool.open(paths.spool);
  const onLogError = (e: Error): void => say(`barge: log write failed: ${e.message}`);
  const tracking = config.log.tracking ? new TrackingLog({ dir: paths.tracking, now, onError: onLogError }) : undefined;
  const metrics = new BargeMetrics(now);
  // Metrics are derived from the tracking events: one observer, no counters spread through the code.
  const track = (event: TrackingEvent): void => {
    tracking?.record(event);
    metrics.observe(event);
  };
  let current = config;
  const nextId = makeIdSource(now);
  const logs: W3cLog[] = [];
  const outboundLog = (): W3cLog | undefined => logs[0];
  const d = config.delivery;
  const dns = new Resolver({ timeout: 5000, tries: 2 });
  if (d.dnsServers !== undefined) dns.setServers([...d.dnsServers]);
  const quirks = await QuirkStore.open(quirksPath(config.dataDir), now);
  const lookup = cachingResolver({ servers: d.dnsServers });
  const mtaSts = config.mtaSts ? new MtaSts({ lookup, ...deps.mtaSts }) : undefined;
  /** Bound listeners, so delivery never targets Barge itself. */
  const listening: Listening[] = [];
  const pool = new SessionPool({ heloName: config.hostname, perDestination: d.maxPerDestination, idleMs: 5000 });
  const delivery: DeliveryContext = {
    heloName: config.hostname,
    get routing() {
      const live = current.delivery;
      return { routes: live.routes, smartHost: live.smartHost, port: live.remotePort };
    },
    dns,
    transfer: (domain) => {
      const d = current.delivery;
      const sw = d.routeSwitches.get(domain) ?? d;
      // The smart host's credentials apply to mail it carries: domains without a route of their own.
      const auth = sw.auth ?? (d.routes.has(domain) ? undefined : d.smartHostAuth);
      return {
        allowBdat: outboundAllowsBdat(sw.outboundMask) && sw.chunking === 'auto', allowPipelining: sw.pipelining, allowBinarymime: sw.binarymime,
        chunkSize: d.chunkSize, fallback: sw.fallback, security: { tls: sw.tls, auth, authTls: sw.authTls },
      };
    },
    quirks,
    // RFC 8461 applies to MX deliveries; a configured route or smart host has its own TLS setting.
    // MTA-STS governs MX delivery only: a route or smart host is the administrator's own choice.
    ...(mtaSts === undefined ? {} : {
      tlsPolicy: (domain: string, hops: readonly NextHop[]) =>
        d.routes.has(domain) || d.smartHost !== undefined ? Promise.resolve({ kind: 'none' as const }) : mtaSts.requirement(domain, hops),
    }),
    myself: { hostname: config.hostname, listening: () => listening, localAddresses: machineAddresses },
    quirkTtlMs: d.quirkTtlMs,
    slowChunkMs: d.slowChunkMs,
    bdatCheckTimeoutMs: d.bdatCheckTimeoutMs,
    bdatInFlight: new BdatInFlight(),
    clock: () => now().getTime(),
    learnt: (q) => track({ event: 'quirk', destination: q.destination, kind: q.kind, reason: q.reason, until: q.until }),
    connectTimeoutMs: d.connectTimeoutMs,
    replyTimeoutMs: d.replyTimeoutMs,
    pool,
    // The classic service logged outbound sessions in the same file, marked by cs-username.
    log: (hop, direction, text) => {
      const [verb = '', ...rest] = text.split(' ');
      outboundLog()?.write({
        time: now(), clientIp: hop.host, serverPort: hop.port, status: 0,
        username: direction === 'command' ? 'OutboundConnectionCommand' : 'OutboundConnectionResponse',
        method: direction === 'command' ? verb : '-',
        query: direction === 'command' ? rest.join(' ') : text,
      });
    },
  };
  const dkimKeys = await loadDkimKeys(config);
  let runner: QueueRunner | undefined;
  const notify = async (envelope: SpoolEnvelope, notices: readonly DsnNotice[]): Promise<void> => {
    await sendNotices({ spool, nextId, hostname: config.hostname, localDomains: config.localDomains, now, queued: (id, env) => runner?.wake(id, env) }, envelope, notices);
  };
  runner = new QueueRunner({
    spool, mailRoot: paths.mail, hostname: config.hostname, scanIntervalMs: config.queue.scanIntervalMs, now, track, notify,
    retry: { scheduleMs: d.retryScheduleMs, lifetimeMs: d.maxQueueLifetimeMs, delayWarningMs: d.delayWarningMs, localRetryMs: 60_000 },
    deliverRemote: async (domain, message) => {
      const optional = mtaSts !== undefined && message.requireTls !== true && (await tlsRequiredNo(() => message.open()));
      return deliverToDomain(domain, optional ? { ...message, tlsOptional: true } : message, delivery);
    },
    ...(dkimKeys.size === 0 ? {} : { prepare: queueSigner({ spool, keys: dkimKeys, now, track }) }),
    maxHops: config.limits.maxHops,
  });
  let relay = relayBlockList(config.relayNetworks);
  const etrnPolicy = new EtrnPolicy(() => relay, config.limits.etrnIntervalMs, now);
  const tls = config.listeners.some((l) => l.tls !== 'off') ? await TlsCredentials.open(config, now) : undefined;
  const authenticator = new Authenticator({ usersFile: usersPath(config.dataDir), ...config.auth, now, warn: say });
  const connections = new Set<Connection>();
  const perIp = new Map<string, number>();
  const servers: Server[] = [];
  const addresses: Array<{ name: string; host: string; port: number }> = [];

  // Each listener's sessions start from the context in this map; a reload replaces the entry.
  const contexts = new Map<string, ConnectionContext>();
  const protocolLogs = new Map<string, W3cLog>();
  const contextFor = (cfg: Config, listener: ListenerConfig): ConnectionContext => ({
    config: cfg, listener, spool, nextId, protocolLog: protocolLogs.get(listener.name), track, now,
    checkRecipient: (ip) => recipientChecker(cfg, relay, ip),
    tls,
    authenticate: async (ip, user, password) => {
      const outcome = await authenticator.check(ip, user, password);
      if ('refuse' in outcome) metrics.authFailure(listener.name);
      return outcome;
    },
    mayUseSender: (user, address) => authenticator.mayUseSender(user, address),
    queued: (id, envelope) => (cfg.queue.hold ? undefined : runner.wake(id, envelope)),
    etrn: (domain) => void runner.scan(domain),
    screen: screenedCommit({
      hostname: cfg.hostname, policy: listener.mailAuth, budgetMs: cfg.mailAuthBudgetMs, resolver: lookup, spool, track,
      trusted: (ip) => inRelayNetworks(relay, ip),
    }),
    etrnPolicy: (ip) => etrnPolicy.forClient(ip),
  });

  const listen = async (listener: ListenerConfig): Promise<void> => {
    const protocolLog = config.log.w3c.enabled
      ? new ObservedW3cLog(
          { dir: join(paths.log, listener.logFolder), fields: config.log.w3c.fields, siteName: listener.logFolder,
            computerName: config.hostname, software: 'Barge 0.1.0', now, onError: onLogError },
          (e) => metrics.command(listener.name, e),
        )
      : undefined;
    if (protocolLog !== undefined) {
      logs.push(protocolLog);
      protocolLogs.set(listener.name, protocolLog);
    }
    contexts.set(listener.name, contextFor(config, listener));
    const server = createServer({ allowHalfOpen: true }, (socket: Socket) => {
      const ip = plainIp(socket.remoteAddress ?? '');
      const count = perIp.get(ip) ?? 0;
      const ctx = contexts.get(listener.name) ?? contextFor(current, listener);
      const { limits } = current;
      if (connections.size >= limits.maxConnections || count >= limits.maxConnectionsPerIp) {
        // RFC 5321 3.1: a server that cannot serve now may answer 421 instead of the greeting.
        socket.on('error', () => socket.destroy());
        socket.end(formatReply(Reply.tooManyConnections(), listener.extensions.has('ENHANCEDSTATUSCODES')));
        protocolLog?.write({ time: now(), clientIp: ip, method: '-', status: 421, serverIp: socket.localAddress, serverPort: socket.localPort });
        return;
      }
      perIp.set(ip, count + 1);
      const connection = new Connection(socket, ip, ctx);
      const opened = performance.now();
      connections.add(connection);
      void connection.closed.then(() => {
        metrics.session((performance.now() - opened) / 1000);
        connections.delete(connection);
        const left = (perIp.get(ip) ?? 1) - 1;
        if (left === 0) perIp.delete(ip);
        else perIp.set(ip, left);
      });
    });
    servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: listener.host, port: listener.port, backlog: 511 }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const bound = server.address();
    const port = typeof bound === 'object' && bound !== null ? bound.port : listener.port;
    addresses.push({ name: listener.name, host: listener.host, port });
    listening.push({ address: typeof bound === 'object' && bound !== null ? bound.address : listener.host, port });
  };

  try {
    for (const listener of config.listeners) await listen(listener);
  } catch (e) {
    for (const s of servers) s.close();
    throw e;
  }
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
  metrics.attach({
    queueByState: counts,
    openConnections: () => connections.size,
    oldestMessageAgeSeconds: async () => {
      // Queue ids begin with the arrival time in base-36 milliseconds (queue/ids.ts).
      const first = (await spool.list()).sort()[0];
      return first === undefined ? 0 : Math.max(0, (now().getTime() - parseInt(first.slice(0, 9), 36)) / 1000);
    },
  });

  const reload = (next: Config): string[] => {
    const notes: string[] = [];
    current = next;
    relay = relayBlockList(next.relayNetworks);
    for (const listener of next.listeners) {
      const bound = addresses.find((a) => a.name === listener.name);
      const old = config.listeners.find((l) => l.name === listener.name);
      if (bound === undefined || old === undefined) {
        notes.push(`listener ${listener.name} is new: it starts at the next restart`);
        continue;
      }
      if (listener.host !== old.host || listener.port !== old.port) notes.push(`listener ${listener.name} keeps ${bound.host}:${bound.port} until a restart`);
      contexts.set(listener.name, contextFor(next, { ...listener, host: old.host, port: old.port }));
    }
    return notes;
  };

  let stopping: Promise<void> | undefined;
  const stop = async (): Promise<void> => {
    for (const s of servers) s.close();
    for (const c of connections) c.shutdown();
    const ended = Promise.all([...connections].map((c) => c.closed));
    // Clients that do not read their 421 must not hold shutdown forever.
    const grace = new Promise<void>((resolve) => setTimeout(resolve, 5000).unref());
    await Promise.race([ended, grace]);
    control.close();
    await runner.stop();
    await spool.close();
    await pool.close();
    await Promise.all([...logs.map((l) => l.close()), tracking?.close()]);
  };
  return {
    addresses,
    runner,
    spool,
    tls,
    replyBacklog: () => Math.max(0, ...[...connections].map((c) => c.unsentReplyBytes)),
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
  readonly check: (text: string) => Config;
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
