/**
 * Outbound wiring of the server: the DeliveryContext (routing and per-domain switches read from the
 * live configuration, session pool, MTA-STS, loop detection, BDAT health, the outbound protocol log)
 * and the QueueRunner that drives it (DSN notices, DKIM signing, hop limit). Builds objects only:
 * the caller starts the runner, and closes the runner and the pool on stop.
 */
import type { ServerBasics } from '../server/server-basics.js';
import { Resolver } from 'node:dns/promises';
import type { W3cLog } from '../log/w3c.js';
import type { SpoolEnvelope } from '../queue/spool.js';
import { sendNotices } from '../queue/bounces.js';
import type { DsnNotice } from '../queue/attempt.js';
import { deliverToDomain, type DeliveryContext } from '../client/deliver.js';
import type { NextHop } from '../client/routes.js';
import { BdatInFlight } from '../client/in-flight.js';
import { SessionPool } from '../client/pool.js';
import { machineAddresses, type Listening } from '../client/loop.js';
import { outboundAllowsBdat } from '../protocol/extensions.js';
import { QueueRunner } from '../queue/runner.js';
import { cachingResolver, type MailAuthResolver } from '../mailauth/dns-cache.js';
import { MtaSts } from '../client/tls-policy.js';
import { tlsRequiredNo } from '../message/tls-required.js';
import { QuirkStore, quirksPath } from '../client/quirks.js';
import { loadDkimKeys, queueSigner } from '../mailauth/sign-queued.js';
import type { ServerDeps } from '../server/running.js';

/** `config` gives the DNS servers, MTA-STS, DKIM keys and retry schedule; `current()` the routes and per-domain switches. */
export interface DeliveryWiringDeps extends ServerBasics {
  readonly mailRoot: string;
  readonly mtaSts: ServerDeps['mtaSts'];
  /** Bound listeners, filled in as they bind, so delivery never targets Barge itself. */
  readonly listening: readonly Listening[];
  /** Where outbound commands and replies are logged (the first listener's protocol log). */
  readonly outboundLog: () => W3cLog | undefined;
  /** Tests only: makes outbound sessions fail (SessionSocketOptions.fault). */
  readonly fault?: (replies: string) => void;
}

export interface DeliveryWiring {
  readonly delivery: DeliveryContext;
  readonly pool: SessionPool;
  readonly quirks: QuirkStore;
  /** The caching resolver the inbound mail checks share with MTA-STS. */
  readonly lookup: MailAuthResolver;
  readonly runner: QueueRunner;
  /** Signs with these DKIM keys from now on (a reload's, already read: loadDkimKeys). */
  useDkimKeys(keys: DkimKeys): void;
}

type DkimKeys = Awaited<ReturnType<typeof loadDkimKeys>>;

export async function wireDelivery(deps: DeliveryWiringDeps): Promise<DeliveryWiring> {
  const { config, current, clock, track, spool, nextId, listening, outboundLog } = deps;
  const d = config.delivery;
  const dns = new Resolver({ timeout: 5000, tries: 2 });
  if (d.dnsServers !== undefined) dns.setServers([...d.dnsServers]);
  const quirks = await QuirkStore.open(quirksPath(config.dataDir), clock);
  const lookup = cachingResolver({ servers: d.dnsServers, clock });
  const mtaSts = config.mtaSts ? new MtaSts({ lookup, clock, ...deps.mtaSts }) : undefined;
  const pool = new SessionPool({ heloName: config.hostname, perDestination: d.maxPerDestination, idleMs: 5000, clock });
  const delivery: DeliveryContext = {
    heloName: config.hostname,
    get routing() {
      const live = current().delivery;
      return { routes: live.routes, smartHost: live.smartHost, port: live.remotePort };
    },
    dns,
    transfer: (domain) => {
      const d = current().delivery;
      const sw = d.routeSwitches.get(domain) ?? d;
      // The smart host's credentials apply to mail it carries: domains without a route of their own.
      const auth = sw.auth ?? (d.routes.has(domain) ? undefined : d.smartHostAuth);
      return {
        allowBdat: outboundAllowsBdat(sw.outboundMask) && sw.chunking === 'auto',
        allowPipelining: sw.pipelining,
        allowBinarymime: sw.binarymime,
        chunkSize: d.chunkSize,
        fallback: sw.fallback,
        security: { tls: sw.tls, auth, authTls: sw.authTls },
      };
    },
    quirks,
    // RFC 8461 applies to MX deliveries; a configured route or smart host has its own TLS setting.
    // MTA-STS governs MX delivery only: a route or smart host is the administrator's own choice.
    ...(mtaSts === undefined
      ? {}
      : {
          tlsPolicy: (domain: string, hops: readonly NextHop[]) =>
            d.routes.has(domain) || d.smartHost !== undefined
              ? Promise.resolve({ kind: 'none' as const })
              : mtaSts.requirement(domain, hops),
        }),
    myself: { hostname: config.hostname, listening: () => listening, localAddresses: machineAddresses },
    quirkTtlMs: d.quirkTtlMs,
    slowChunkMs: d.slowChunkMs,
    bdatCheckTimeoutMs: d.bdatCheckTimeoutMs,
    bdatInFlight: new BdatInFlight(),
    clock,
    learnt: (q) => track({ event: 'quirk', destination: q.destination, kind: q.kind, reason: q.reason, until: q.until }),
    connectTimeoutMs: d.connectTimeoutMs,
    replyTimeoutMs: d.replyTimeoutMs,
    pool,
    // The classic service logged outbound sessions in the same file, marked by cs-username.
    log: (hop, direction, text) => {
      const [verb = '', ...rest] = text.split(' ');
      outboundLog()?.write({
        time: clock.now(),
        clientIp: hop.host,
        serverPort: hop.port,
        status: 0,
        username: direction === 'command' ? 'OutboundConnectionCommand' : 'OutboundConnectionResponse',
        method: direction === 'command' ? verb : '-',
        query: direction === 'command' ? rest.join(' ') : text,
      });
    },
    bug: (e, destination) => deps.bug(e, { where: 'outbound', destination }),
    ...(deps.fault === undefined ? {} : { fault: deps.fault }),
  };
  // Read at start and replaced by a reload: a message is signed with the keys in force when it is taken.
  let dkimKeys = await loadDkimKeys(config);
  let signer = queueSigner({ spool, keys: dkimKeys, clock, track });
  let runner: QueueRunner | undefined;
  const notify = async (envelope: SpoolEnvelope, notices: readonly DsnNotice[]): Promise<void> => {
    await sendNotices(
      { spool, nextId, hostname: config.hostname, localDomains: config.localDomains, clock, queued: (id, env) => runner?.wake(id, env) },
      envelope,
      notices,
    );
  };
  runner = new QueueRunner({
    spool,
    mailRoot: deps.mailRoot,
    hostname: config.hostname,
    scanIntervalMs: config.queue.scanIntervalMs,
    clock,
    track,
    notify,
    retry: { scheduleMs: d.retryScheduleMs, lifetimeMs: d.maxQueueLifetimeMs, delayWarningMs: d.delayWarningMs, localRetryMs: 60_000 },
    deliverRemote: async (domain, message) => {
      const optional = mtaSts !== undefined && message.requireTls !== true && (await tlsRequiredNo(() => message.open()));
      return deliverToDomain(domain, optional ? { ...message, tlsOptional: true } : message, delivery);
    },
    prepare: (id, envelope) => (dkimKeys.size === 0 ? Promise.resolve(envelope) : signer(id, envelope)),
    maxHops: config.limits.maxHops,
    bug: deps.bug,
  });
  const useDkimKeys = (keys: DkimKeys): void => {
    dkimKeys = keys;
    signer = queueSigner({ spool, keys, clock, track });
  };
  return { delivery, pool, quirks, lookup, runner, useDkimKeys };
}
