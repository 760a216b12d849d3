/**
 * The server's listeners: one TCP server per configured listener, each with its protocol log and
 * the ConnectionContext its new sessions start from (inbound mail checks, relay networks, ETRN
 * policy, authentication). On a listener behind a load balancer, reads the PROXY header first and
 * refuses connections from outside `proxy_from`. Enforces the connection limits (per client address:
 * the real client's) before a session starts, tracks open connections for metrics and shutdown, and
 * swaps contexts on reload (addresses need a restart).
 */
import type { ServerBasics } from './server-basics.js';
import { type BlockList, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Config, ListenerConfig } from '../config/types.js';
import type { W3cLog } from '../log/w3c.js';
import { formatReply, Reply } from '../protocol/replies.js';
import type { Listening } from '../client/loop.js';
import type { QueueRunner } from '../queue/runner.js';
import { Connection } from './connection.js';
import type { ConnectionContext } from './connection-context.js';
import { type EtrnPolicy, inRelayNetworks, recipientChecker, relayBlockList } from './policy.js';
import { inNetworks, readProxyHeader, socketPeer } from './proxy-intake.js';
import { screenedCommit } from '../mailauth/inbound.js';
import type { CheckPool } from '../mailauth/check-pool.js';
import type { TlsCredentials } from './tls.js';
import type { Authenticator } from './authenticator.js';
import type { BargeMetrics } from '../log/metrics.js';
import { ObservedW3cLog } from '../log/observed-w3c.js';
import type { FaultHook } from './connection-boundary.js';
import { listenerWhat, listenOn, type Prebound } from './listen.js';

/** `config` gives the listener addresses and log settings; `current()` the limits, read per connection. */
export interface ListenersDeps extends ServerBasics {
  /** The live relay networks (reload replaces them). */
  readonly relay: () => BlockList;
  readonly runner: QueueRunner;
  /** Undefined without the console: nothing could read them. */
  readonly metrics: BargeMetrics | undefined;
  readonly tls: TlsCredentials | undefined;
  readonly authenticator: Authenticator;
  readonly etrnPolicy: EtrnPolicy;
  /** Runs the inbound mail checks (off the event loop, started on first use). */
  readonly checks: CheckPool;
  readonly logDir: string;
  readonly onLogError: (e: Error) => void;
  /** Operator warnings (refused connections on PROXY listeners). */
  readonly warn: (line: string) => void;
  /** Protocol logs, in listener order; the caller flushes and closes them. */
  readonly logs: W3cLog[];
  /** Filled in as listeners bind, so delivery never targets Barge itself. */
  readonly listening: Listening[];
  /** Counts octets read from sockets (the young-generation pacing, app/tuning.ts). */
  readonly paceRead: (octets: number) => void;
  /** Tests only: makes inbound connections fail (connection-boundary.ts). */
  readonly fault?: FaultHook;
  /** Sockets bound before the process gave up root: each listener takes its own. */
  readonly prebound?: Prebound | undefined;
}

export class Listeners {
  /** Bound addresses, in listener order (useful when a port was 0). */
  readonly addresses: Array<{ name: string; host: string; port: number }> = [];
  readonly #deps: ListenersDeps;
  readonly #connections = new Set<Connection>();
  readonly #perIp = new Map<string, number>();
  readonly #servers: Server[] = [];
  /** Sockets whose PROXY header is still awaited (bounded by its timeout). */
  readonly #intakes = new Set<Socket>();
  // Each listener's sessions start from the context in this map; a reload replaces the entry.
  readonly #contexts = new Map<string, ConnectionContext>();
  readonly #protocolLogs = new Map<string, W3cLog>();
  /** Connections accepted so far: each one's name in bug reports is its listener's and this count. */
  #accepted = 0;

  constructor(deps: ListenersDeps) {
    this.#deps = deps;
  }

  get openConnections(): number {
    return this.#connections.size;
  }

  /** The most reply octets any open connection has waiting for its client. */
  replyBacklog(): number {
    return Math.max(0, ...[...this.#connections].map((c) => c.unsentReplyBytes));
  }

  /** Binds every configured listener in order; on a failure closes those already bound and throws. */
  async listenAll(): Promise<void> {
    try {
      for (const listener of this.#deps.config.listeners) await this.#listen(listener);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** New sessions use `next`; listeners that are new, moved or removed are noted as needing a restart. */
  reload(next: Config): string[] {
    const notes: string[] = [];
    for (const old of this.#deps.config.listeners) {
      if (!next.listeners.some((l) => l.name === old.name)) notes.push(`listener ${old.name} is removed: it stops at the next restart`);
    }
    for (const listener of next.listeners) {
      const bound = this.addresses.find((a) => a.name === listener.name);
      const old = this.#deps.config.listeners.find((l) => l.name === listener.name);
      if (bound === undefined || old === undefined) {
        notes.push(`listener ${listener.name} is new: it starts at the next restart`);
        continue;
      }
      if (listener.host !== old.host || listener.port !== old.port)
        notes.push(`listener ${listener.name} keeps ${bound.host}:${bound.port} until a restart`);
      this.#contexts.set(listener.name, this.#contextFor(next, { ...listener, host: old.host, port: old.port }));
    }
    return notes;
  }

  /** Stops accepting new connections. */
  close(): void {
    for (const s of this.#servers) s.close();
  }

  /** Ends every session (421 4.3.2) and waits for them, at most a grace period. */
  async endSessions(): Promise<void> {
    for (const s of this.#intakes) {
      this.#intakes.delete(s);
      s.destroy();
    }
    for (const c of this.#connections) c.shutdown();
    const ended = Promise.all([...this.#connections].map((c) => c.closed));
    // Clients that do not read their 421 must not hold shutdown forever.
    const grace = new Promise<void>((resolve) => void this.#deps.clock.after(5000, resolve));
    await Promise.race([ended, grace]);
  }

  #contextFor(cfg: Config, listener: ListenerConfig): ConnectionContext {
    const { spool, nextId, track, clock, tls, authenticator, metrics, runner, relay, checks, etrnPolicy, bug, fault, paceRead } =
      this.#deps;
    return {
      config: cfg,
      listener,
      spool,
      nextId,
      protocolLog: this.#protocolLogs.get(listener.name),
      track,
      clock,
      paceRead,
      checkRecipient: (ip) => recipientChecker(cfg, relay(), ip),
      tls,
      authenticate: async (ip, user, password) => {
        const outcome = await authenticator.check(ip, user, password);
        if ('refuse' in outcome) metrics?.authFailure(listener.name);
        return outcome;
      },
      mayUseSender: (user, address) => authenticator.mayUseSender(user, address),
      queued: (id, envelope) => (cfg.queue.hold ? undefined : runner.wake(id, envelope)),
      etrn: (domain) => void runner.scan(domain),
      screen: screenedCommit({
        hostname: cfg.hostname,
        policy: listener.mailAuth,
        budgetMs: cfg.mailAuthBudgetMs,
        maxHeaderBytes: cfg.limits.maxHeaderSize,
        checks,
        spool,
        track,
        trusted: (ip) => inRelayNetworks(relay(), ip),
      }),
      etrnPolicy: (ip) => etrnPolicy.forClient(ip),
      bug,
      ...(fault === undefined ? {} : { fault }),
      proxyFrom: listener.proxyFrom === undefined ? undefined : relayBlockList(listener.proxyFrom),
    };
  }

  /** A new connection: behind a load balancer its PROXY header first (proxy-intake.ts), then the limits, then the session. */
  #accept(listener: ListenerConfig, socket: Socket): void {
    const ctx = this.#contexts.get(listener.name) ?? this.#contextFor(this.#deps.current(), listener);
    const peer = socketPeer(socket);
    if (ctx.proxyFrom === undefined) return this.#admit(ctx, socket, peer);
    if (!inNetworks(ctx.proxyFrom, peer)) return this.#refuse(ctx, socket, peer, 'not in proxy_from: PROXY header not accepted');
    this.#intakes.add(socket);
    readProxyHeader(socket, ctx.clock, (intake) => {
      // Not in the set: shutdown closed it, and there is nothing to log.
      if (!this.#intakes.delete(socket)) return;
      if ('clientIp' in intake) this.#admit(ctx, socket, intake.clientIp);
      else this.#refuse(ctx, socket, peer, intake.refused);
    });
  }

  /** Starts the session of the client at `ip` (the socket's peer or the one its PROXY header names) within the limits. */
  #admit(ctx: ConnectionContext, socket: Socket, ip: string): void {
    const { clock, metrics } = this.#deps;
    const connections = this.#connections;
    const perIp = this.#perIp;
    const count = perIp.get(ip) ?? 0;
    const { limits } = this.#deps.current();
    if (connections.size >= limits.maxConnections || count >= limits.maxConnectionsPerIp) {
      // RFC 5321 3.1: a server that cannot serve now may answer 421 instead of the greeting.
      socket.on('error', () => socket.destroy());
      socket.end(formatReply(Reply.tooManyConnections(), ctx.listener.extensions.has('ENHANCEDSTATUSCODES')));
      ctx.protocolLog?.write({
        time: clock.now(),
        clientIp: ip,
        method: '-',
        status: 421,
        serverIp: socket.localAddress,
        serverPort: socket.localPort,
      });
      return;
    }
    const id = `${ctx.listener.name}/${++this.#accepted}`;
    let connection: Connection;
    try {
      connection = new Connection(socket, ip, ctx, id);
    } catch (e) {
      // A bug before the connection's own error boundary stands: this client alone is cut off.
      this.#deps.bug(e, { where: 'inbound', connection: id, clientIp: ip });
      socket.destroy();
      return;
    }
    perIp.set(ip, count + 1);
    const opened = performance.now(); // monotonic: a session's duration for the metrics
    connections.add(connection);
    void connection.closed.then(() => {
      metrics?.session((performance.now() - opened) / 1000);
      connections.delete(connection);
      const left = (perIp.get(ip) ?? 1) - 1;
      if (left === 0) perIp.delete(ip);
      else perIp.set(ip, left);
    });
  }

  /** Closes without a greeting; logged (the protocol log's PROXY line, and a warning) unless nothing was sent. */
  #refuse(ctx: ConnectionContext, socket: Socket, peer: string, reason: string | undefined): void {
    const { localAddress, localPort } = socket;
    socket.destroy();
    if (reason === undefined) return;
    this.#deps.metrics?.proxyRefused(ctx.listener.name);
    ctx.protocolLog?.write({
      time: this.#deps.clock.now(),
      clientIp: peer,
      method: 'PROXY',
      query: reason,
      status: 0,
      serverIp: localAddress,
      serverPort: localPort,
    });
    this.#deps.warn(`barge: connection from ${peer} to listener ${ctx.listener.name} refused: ${reason}`);
  }

  async #listen(listener: ListenerConfig): Promise<void> {
    const { config, clock, metrics } = this.#deps;
    const protocolLog = config.log.w3c.enabled
      ? new ObservedW3cLog(
          {
            dir: join(this.#deps.logDir, listener.logFolder),
            fields: config.log.w3c.fields,
            siteName: listener.logFolder,
            computerName: config.hostname,
            software: 'Barge 0.1.0',
            clock,
            onError: this.#deps.onLogError,
          },
          (e) => metrics?.command(listener.name, e),
        )
      : undefined;
    if (protocolLog !== undefined) {
      this.#deps.logs.push(protocolLog);
      this.#protocolLogs.set(listener.name, protocolLog);
    }
    this.#contexts.set(listener.name, this.#contextFor(config, listener));
    const server = createServer({ allowHalfOpen: true }, (socket: Socket) => this.#accept(listener, socket));
    this.#servers.push(server);
    await listenOn(server, listener.host, listener.port, listenerWhat(listener.name), this.#deps.prebound);
    const bound = server.address();
    const port = typeof bound === 'object' && bound !== null ? bound.port : listener.port;
    this.addresses.push({ name: listener.name, host: listener.host, port });
    this.#deps.listening.push({ address: typeof bound === 'object' && bound !== null ? bound.address : listener.host, port });
  }
}
