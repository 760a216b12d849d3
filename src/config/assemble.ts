/**
 * Builds the frozen Config from a validated configuration file and command-line flags (flags win).
 * Every failure is a ConfigError whose message names the key and, for the file, its line. No zod
 * here: validation is validate.ts, which the server runs in a child process (load.ts).
 */
import { resolve } from 'node:path';
import { fieldsFromFlags, parseFieldList } from '../log/w3c-fields.js';
import type { AcmeConfig, Config, HostPort, OutboundSwitches } from './types.js';
import { dkimKeys } from './mail-auth.js';
import { locator } from './toml-errors.js';
import { DEFAULTS, isAccountName, isCidr, parseConfigHostPort, parseSize } from './defaults.js';
import type { FileConfig, ListenerInput } from './schema.js';
import { ConfigError } from './config-error.js';
import { listeners } from './listeners.js';

/** A configuration file's text and its name (for messages). */
export interface ConfigText {
  readonly text: string;
  readonly file: string;
}

export { ConfigError } from './config-error.js';

/** The settings `barge serve` takes as flags. */
export interface ServeFlags {
  listen?: string[];
  dataDir?: string;
  hostname?: string;
  localDomain?: string[];
  maxMessageSize?: string;
  /** "example.com=127.0.0.1:2526" */
  route?: string[];
  smartHost?: string;
  queueOnly?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  /** Implicit-TLS submission listener (RFC 8314, port 465 style). */
  listenTls?: string;
  /** Submission listener (RFC 6409, port 587 style): STARTTLS and AUTH required. */
  listenSubmission?: string;
  relayNetwork?: string[];
  /** The admin console's address, or "off". */
  adminListen?: string;
  /** The user (and group) to run as once the listeners are bound. */
  user?: string;
  group?: string;
}

/**
 * The Config from a validated file (`f`: {} without one) and flags. `toml` is the file's text, for
 * the line numbers of errors found here.
 */
export function assembleConfig(f: FileConfig, toml: ConfigText | undefined, flags: ServeFlags, machineHostname: string): Config {
  const where = locator(toml);

  const hostname = (flags.hostname ?? f.hostname ?? machineHostname).toLowerCase();
  const maxMessageSize =
    flags.maxMessageSize === undefined ? (f.limits?.max_message_size ?? DEFAULTS.maxMessageSize) : flagSize(flags.maxMessageSize);
  const localDomains = [...new Set((flags.localDomain ?? f.local_domains ?? ['localhost', hostname]).map((d) => d.toLowerCase()))];

  let w3cFields: readonly string[] = DEFAULTS.w3cFields;
  try {
    if (f.log?.w3c_flags !== undefined) w3cFields = fieldsFromFlags(f.log.w3c_flags);
    if (f.log?.w3c_fields !== undefined) w3cFields = parseFieldList(f.log.w3c_fields);
  } catch (e) {
    throw new ConfigError(`${where(['log', 'w3c_fields'])}log.w3c_fields: ${e instanceof Error ? e.message : String(e)}`);
  }

  const switches: OutboundSwitches = {
    outboundMask: f.delivery?.outbound_command_support ?? DEFAULTS.outboundMask,
    chunking: f.delivery?.chunking ?? 'auto',
    pipelining: f.delivery?.pipelining ?? true,
    binarymime: f.delivery?.binarymime ?? true,
    tls: f.delivery?.tls ?? 'opportunistic',
    fallback: f.delivery?.fallback ?? true,
    auth: undefined,
    authTls: f.delivery?.auth_tls ?? 'verified',
  };
  for (const cidr of flags.relayNetwork ?? [])
    if (!isCidr(cidr)) throw new ConfigError(`--relay-network: expected an address or CIDR block, got ${JSON.stringify(cidr)}`);
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) throw new ConfigError('--tls-cert and --tls-key go together');
  const fileTls = f.tls?.cert !== undefined && f.tls.key !== undefined ? { cert: f.tls.cert, key: f.tls.key } : undefined;
  const tlsFiles = flags.tlsCert !== undefined && flags.tlsKey !== undefined ? { cert: flags.tlsCert, key: flags.tlsKey } : fileTls;
  const config: Config = {
    hostname,
    dataDir: resolve(flags.dataDir ?? f.data_dir ?? DEFAULTS.dataDir),
    runAs: runAs(flags.user ?? f.user, flags.group ?? f.group),
    localDomains,
    localRecipients: f.local_recipients,
    relayNetworks: flags.relayNetwork ?? f.relay_networks ?? DEFAULTS.relayNetworks,
    listeners: listeners(withFlagListeners(f.listener, flags), flags.listen),
    tls: tlsFiles === undefined ? undefined : { certFile: resolve(tlsFiles.cert), keyFile: resolve(tlsFiles.key) },
    tlsNames: new Map(
      Object.entries(f.tls?.names ?? {}).map(([name, v]) => [name.toLowerCase(), { certFile: resolve(v.cert), keyFile: resolve(v.key) }]),
    ),
    acme: acmeConfig(f.acme),
    auth: {
      maxFailures: f.auth?.max_failures ?? DEFAULTS.authMaxFailures,
      failureWindowMs: f.auth?.failure_window ?? DEFAULTS.authFailureWindowMs,
      maxParallelChecks: f.auth?.max_parallel_checks ?? DEFAULTS.authMaxParallelChecks,
    },
    limits: {
      maxMessageSize,
      maxRecipients: f.limits?.max_recipients ?? DEFAULTS.maxRecipients,
      maxConnections: f.limits?.max_connections ?? DEFAULTS.maxConnections,
      maxConnectionsPerIp: f.limits?.max_connections_per_ip ?? DEFAULTS.maxConnectionsPerIp,
      maxErrors: f.limits?.max_errors ?? DEFAULTS.maxErrors,
      maxHops: f.limits?.max_hops ?? DEFAULTS.maxHops,
      maxJunkCommands: f.limits?.max_junk_commands ?? DEFAULTS.maxJunkCommands,
      maxRecipientOvershoot: f.limits?.max_recipient_overshoot ?? DEFAULTS.maxRecipientOvershoot,
      maxHeaderSize: f.limits?.max_header_size ?? DEFAULTS.maxHeaderSize,
      etrnIntervalMs: f.limits?.etrn_interval ?? DEFAULTS.etrnIntervalMs,
      commandTimeoutMs: f.limits?.command_timeout ?? DEFAULTS.commandTimeoutMs,
      dataBlockTimeoutMs: f.limits?.data_timeout ?? DEFAULTS.dataTimeoutMs,
    },
    smuggling: f.smuggling ?? 'reject',
    log: {
      w3c: { enabled: f.log?.w3c ?? true, fields: w3cFields },
      tracking: f.log?.tracking ?? true,
      keepDays: f.log?.keep_days ?? DEFAULTS.logKeepDays,
    },
    queue: { scanIntervalMs: f.queue?.scan_interval ?? DEFAULTS.scanIntervalMs, hold: flags.queueOnly ?? f.queue?.hold ?? false },
    delivery: {
      ...switches,
      routeSwitches: routeSwitches(f.routes, switches),
      chunkSize: f.delivery?.chunk_size ?? DEFAULTS.chunkSize,
      quirkTtlMs: f.delivery?.quirk_ttl ?? 86_400_000,
      slowChunkMs: f.delivery?.slow_chunk ?? 2000,
      bdatCheckTimeoutMs: f.delivery?.bdat_check_timeout ?? DEFAULTS.bdatCheckTimeoutMs,
      routes: routes(f.routes, flags.route),
      smartHostAuth: f.smart_host_auth,
      smartHost:
        flags.smartHost === undefined
          ? f.smart_host === undefined
            ? undefined
            : parseConfigHostPort(f.smart_host)
          : hostPort(flags.smartHost, '--smart-host'),
      dnsServers: f.dns?.servers,
      retryScheduleMs: f.delivery?.retry_schedule ?? DEFAULTS.retryScheduleMs,
      maxQueueLifetimeMs: f.delivery?.max_queue_lifetime ?? DEFAULTS.maxQueueLifetimeMs,
      delayWarningMs: f.delivery?.delay_warning ?? DEFAULTS.delayWarningMs,
      connectTimeoutMs: f.delivery?.connect_timeout ?? DEFAULTS.connectTimeoutMs,
      replyTimeoutMs: f.delivery?.reply_timeout ?? DEFAULTS.replyTimeoutMs,
      remotePort: f.delivery?.port ?? 25,
      maxPerDestination: f.delivery?.max_per_destination ?? 10,
    },
    dkim: dkimKeys(f.dkim, resolve(flags.dataDir ?? f.data_dir ?? DEFAULTS.dataDir)),
    mailAuthBudgetMs: f.mail_auth?.time_budget ?? DEFAULTS.mailAuthBudgetMs,
    mailAuthMaxParallelChecks: f.mail_auth?.max_parallel_checks ?? DEFAULTS.mailAuthMaxParallelChecks,
    mtaSts: f.mta_sts?.enabled ?? true,
    admin: adminConfig(f.admin, flags.adminListen),
  };
  return deepFreeze(config);
}

function hostPort(text: string, source: string): HostPort {
  const hp = parseConfigHostPort(text);
  if (hp === undefined) throw new ConfigError(`${source}: expected HOST:PORT, got ${JSON.stringify(text)}`);
  return hp;
}

type RouteInput = NonNullable<FileConfig['routes']>[string];

/** The file's [routes], then --route flags (which win for the same domain). */
function routes(
  table: Readonly<Record<string, RouteInput>> | undefined,
  flags: readonly string[] | undefined,
): ReadonlyMap<string, HostPort> {
  const out = new Map<string, HostPort>();
  for (const [domain, target] of Object.entries(table ?? {})) {
    out.set(domain.toLowerCase(), hostPort(typeof target === 'string' ? target : target.next_hop, `routes.${domain}`));
  }
  for (const flag of flags ?? []) {
    const [domain = '', target = ''] = flag.split('=', 2);
    if (!/^[A-Za-z0-9.-]+$/.test(domain)) throw new ConfigError(`--route: expected DOMAIN=HOST:PORT, got ${JSON.stringify(flag)}`);
    out.set(domain.toLowerCase(), hostPort(target, '--route'));
  }
  return out;
}

/** Routes written as tables may override the outbound switches for their domain. */
function routeSwitches(
  table: Readonly<Record<string, RouteInput>> | undefined,
  base: OutboundSwitches,
): ReadonlyMap<string, OutboundSwitches> {
  const out = new Map<string, OutboundSwitches>();
  for (const [domain, r] of Object.entries(table ?? {})) {
    if (typeof r === 'string') continue;
    out.set(domain.toLowerCase(), {
      outboundMask: r.outbound_command_support ?? base.outboundMask,
      chunking: r.chunking ?? base.chunking,
      pipelining: r.pipelining ?? base.pipelining,
      binarymime: r.binarymime ?? base.binarymime,
      tls: r.tls ?? base.tls,
      fallback: r.fallback ?? base.fallback,
      auth: r.auth ?? base.auth,
      authTls: r.auth_tls ?? base.authTls,
    });
  }
  return out;
}

function adminConfig(input: FileConfig['admin'], flag: string | undefined): Config['admin'] {
  if (flag === 'off') return undefined;
  if (flag !== undefined) return { listen: hostPort(flag, '--admin-listen') };
  if (input === false || (typeof input === 'object' && input.enabled === false)) return undefined;
  const listen = typeof input === 'object' ? input.listen : undefined;
  return { listen: hostPort(listen ?? DEFAULTS.adminListen, 'admin.listen') };
}

function acmeConfig(input: FileConfig['acme']): AcmeConfig | undefined {
  if (input === undefined) return undefined;
  return {
    directory: input.directory ?? DEFAULTS.acmeDirectory,
    email: input.email,
    names: [...new Set(input.names)],
    httpListen: hostPort(input.http_listen ?? DEFAULTS.acmeHttpListen, 'acme.http_listen'),
    caFile: input.ca_file === undefined ? undefined : resolve(input.ca_file),
  };
}

function runAs(user: string | undefined, group: string | undefined): Config['runAs'] {
  if (user === undefined) {
    if (group !== undefined) throw new ConfigError('group (or --group) needs user (or --user): the group is the one the user runs with');
    return undefined;
  }
  if (!isAccountName(user) || (group !== undefined && !isAccountName(group))) {
    throw new ConfigError(
      `--user/--group: expected a user or group name, or a number, got ${JSON.stringify(group === undefined ? user : `${user}:${group}`)}`,
    );
  }
  return { user, group };
}

function flagSize(text: string): number {
  const n = parseSize(text);
  if (n === undefined || n <= 0) throw new ConfigError(`--max-message-size: expected a size like 50MB, got ${JSON.stringify(text)}`);
  return n;
}

/**
 * `--listen-submission` and `--listen-tls` add (or move) the "submission" and "submissions"
 * listeners: STARTTLS or implicit TLS, AUTH required, MAIL FROM owned by the user.
 */
function withFlagListeners(
  table: Readonly<Record<string, ListenerInput>> | undefined,
  flags: ServeFlags,
): Record<string, ListenerInput> | undefined {
  if (flags.listenSubmission === undefined && flags.listenTls === undefined) return table;
  const out: Record<string, ListenerInput> = { ...(table ?? { [DEFAULTS.listenerName]: {} }) };
  const add = (name: string, listen: string | undefined, tls: 'required' | 'implicit'): void => {
    if (listen === undefined) return;
    if (parseConfigHostPort(listen) === undefined)
      throw new ConfigError(`--listen-${tls === 'implicit' ? 'tls' : 'submission'}: expected HOST:PORT, got ${JSON.stringify(listen)}`);
    out[name] = { auth: 'required', ...out[name], tls, listen };
  };
  add('submission', flags.listenSubmission, 'required');
  add('submissions', flags.listenTls, 'implicit');
  return out;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
