/**
 * Which changed settings a reload cannot apply. New sessions take the listeners' verbs, limits,
 * policies, routes and per-domain switches from the new configuration, and the TLS certificate and
 * DKIM keys are swapped in; what the parts built at start read once (the spool's place, the logs,
 * the queue runner's schedule, the outbound client's timeouts and DNS, the console) keeps its
 * running value until a restart, and the reload's report says so, key by key.
 */
import type { Config } from '../config/types.js';

/** Settings read once at start, by the name an administrator finds in the file. */
const START_ONLY: ReadonlyArray<readonly [string, (c: Config) => unknown]> = [
  ['data_dir', (c) => c.dataDir],
  ['user, group', (c) => c.runAs],
  ['[log]', (c) => c.log],
  ['[auth]', (c) => c.auth],
  ['[limits] etrn_interval', (c) => c.limits.etrnIntervalMs],
  ['[queue]', (c) => c.queue],
  ['[delivery] retry_schedule', (c) => c.delivery.retryScheduleMs],
  ['[delivery] max_queue_lifetime', (c) => c.delivery.maxQueueLifetimeMs],
  ['[delivery] delay_warning', (c) => c.delivery.delayWarningMs],
  ['[delivery] connect_timeout', (c) => c.delivery.connectTimeoutMs],
  ['[delivery] reply_timeout', (c) => c.delivery.replyTimeoutMs],
  ['[delivery] bdat_check_timeout', (c) => c.delivery.bdatCheckTimeoutMs],
  ['[delivery] slow_chunk', (c) => c.delivery.slowChunkMs],
  ['[delivery] quirk_ttl', (c) => c.delivery.quirkTtlMs],
  ['[delivery] max_per_destination', (c) => c.delivery.maxPerDestination],
  ['[dns] servers', (c) => c.delivery.dnsServers],
  ['[mta_sts]', (c) => c.mtaSts],
  ['[admin]', (c) => c.admin],
  ['hostname (outbound EHLO and delivery reports)', (c) => c.hostname],
];

/**
 * The settings of `next` that differ from those the server started with and only a restart applies.
 * `tlsAtStart`: whether the server started with TLS credentials (without, a listener that now wants
 * TLS gets it only after a restart).
 */
export function restartNeeded(started: Config, next: Config, tlsAtStart: boolean): string[] {
  const changed = START_ONLY.filter(([, value]) => JSON.stringify(value(started)) !== JSON.stringify(value(next))).map(([name]) => name);
  if (!tlsAtStart && next.listeners.some((l) => l.tls !== 'off')) changed.push('[listener] tls (no listener offered TLS at start)');
  return changed;
}
