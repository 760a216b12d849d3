/**
 * The configuration file's schema (TOML, snake_case keys); the defaults are in defaults.ts.
 * Validation is strict: an unknown key is an error, so a typo never silently leaves a default in place.
 */
import { z } from 'zod';
import { formatDuration, isAccountName, isCidr, MAX_TIMER_MS, parseConfigHostPort, parseDuration, parseSize } from './defaults.js';

const size = z.union([z.number().int().positive(), z.string()]).transform((v, ctx) => {
  const n = typeof v === 'number' ? v : parseSize(v);
  if (n === undefined || n <= 0) {
    ctx.addIssue({ code: 'custom', message: 'expected a size like 50MB, 512KB or a number of bytes' });
    return z.NEVER;
  }
  return n;
});

/**
 * A duration from `min` to `max` milliseconds. Never past MAX_TIMER_MS: Node runs a longer timer
 * after 1 ms (a command_timeout of "25d" would end every session at once).
 */
const between = (min: number, max: number) =>
  z.union([z.number().int().nonnegative(), z.string()]).transform((v, ctx) => {
    const n = typeof v === 'number' ? v : parseDuration(v);
    if (n === undefined) {
      ctx.addIssue({ code: 'custom', message: 'expected a duration like 5m, 30s, 1500ms or a number of milliseconds' });
      return z.NEVER;
    }
    if (n < min || n > max) {
      ctx.addIssue({
        code: 'custom',
        message: `expected a duration from ${formatDuration(min)} to ${formatDuration(max)}, got ${JSON.stringify(v)}`,
      });
      return z.NEVER;
    }
    return n;
  });
const duration = between(0, MAX_TIMER_MS);
/**
 * Waits for a peer: at least a second; at most an hour, twelve times RFC 5321 4.5.3.2's five
 * minutes (longer only lets an idle peer hold a connection).
 */
const peerWait = between(1000, 3_600_000);

const mask = z.number().int().min(0).max(0xffffffff);
const count = z.number().int().positive();
const domain = z
  .string()
  .regex(/^[A-Za-z0-9.-]+$/, 'expected a domain name')
  .transform((d) => d.toLowerCase());

const account = z.string().refine(isAccountName, 'expected a user or group name, or a number');

const hostPort = z.string().refine((v) => parseConfigHostPort(v) !== undefined, 'expected HOST:PORT, e.g. "mx.example.com:25"');

const listener = z.strictObject({
  listen: z
    .string()
    .refine((v) => parseConfigHostPort(v) !== undefined, 'expected HOST:PORT, e.g. "0.0.0.0:25" or "[::1]:25"')
    .optional(),
  inbound_command_support: mask.optional(),
  pipelining: z.boolean().optional(),
  size: z.boolean().optional(),
  '8bitmime': z.boolean().optional(),
  binarymime: z.boolean().optional(),
  chunking: z.boolean().optional(),
  dsn: z.boolean().optional(),
  enhancedstatuscodes: z.boolean().optional(),
  smtputf8: z.boolean().optional(),
  etrn: z.boolean().optional(),
  help: z.boolean().optional(),
  vrfy: z.enum(['cannot', 'off']).optional(),
  expn: z.boolean().optional(),
  log_folder: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/, 'expected a folder name')
    .optional(),
  tls: z.enum(['off', 'optional', 'required', 'implicit']).optional(),
  require_tls: z.boolean().optional(),
  auth: z.enum(['off', 'optional', 'required']).optional(),
  auth_cleartext: z.boolean().optional(),
  sender_login: z.boolean().optional(),
  /** Inbound SPF/DKIM/DMARC checks for mail from outside (not authenticated, not relay networks). */
  mail_auth: z.boolean().optional(),
  dmarc_policy: z.enum(['tag', 'enforce']).optional(),
  spf_fail: z.enum(['tag', 'reject']).optional(),
  /** The PROXY protocol header (v1 or v2) is required first on every connection, and accepted only from `proxy_from`. */
  proxy_protocol: z.boolean().optional(),
  proxy_from: z.array(z.string().refine(isCidr, 'expected an address or CIDR block like 10.0.0.0/8')).min(1).optional(),
});
export type ListenerInput = z.infer<typeof listener>;

const dkimKey = z.strictObject({
  selector: z.string().regex(/^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/, 'expected a DKIM selector'),
  key: z.string().min(1),
  algorithm: z.enum(['rsa-sha256', 'ed25519-sha256']).optional(),
  headers: z
    .array(z.string().regex(/^[!-9;-~]+$/, 'expected a header field name'))
    .min(1)
    .optional(),
});

const credentials = z.strictObject({ username: z.string().min(1), password: z.string().min(1) });

/** A server name a certificate is chosen for by SNI: "mx.example.org", or "*.example.org" for one label. */
const SNI_NAME = /^(?:\*\.)?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*$/;
const certificateFiles = z.strictObject({ cert: z.string().min(1), key: z.string().min(1) });
type CertificateFiles = z.infer<typeof certificateFiles>;
/** `[tls]` cert/key (the default certificate) beside `[tls."NAME"]` tables (certificates by server name). */
const tls = z.record(z.string(), z.unknown()).transform((table, ctx) => {
  const files: { cert?: string; key?: string } = {};
  const names: Record<string, CertificateFiles> = {};
  for (const [key, value] of Object.entries(table)) {
    if (key === 'cert' || key === 'key') {
      if (typeof value === 'string' && value !== '') files[key] = value;
      else ctx.addIssue({ code: 'custom', path: [key], message: 'expected the path of a PEM file' });
    } else if (typeof value !== 'object' || value === null) {
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `unknown key "${key}" (a certificate by name is a table: [tls."mx.example.org"])`,
      });
    } else if (!SNI_NAME.test(key)) {
      ctx.addIssue({ code: 'custom', path: [key], message: 'expected a server name like "mx.example.org" or "*.example.org"' });
    } else {
      const entry = certificateFiles.safeParse(value);
      if (entry.success) names[key] = entry.data;
      for (const issue of entry.error?.issues ?? []) {
        if (issue.code !== 'unrecognized_keys') ctx.addIssue({ code: 'custom', path: [key, ...issue.path], message: issue.message });
        else for (const unknown of issue.keys) ctx.addIssue({ code: 'custom', path: [key, unknown], message: 'unknown key' });
      }
    }
  }
  if ((files.cert === undefined) !== (files.key === undefined))
    ctx.addIssue({ code: 'custom', path: [files.cert === undefined ? 'key' : 'cert'], message: 'cert and key go together' });
  return { ...files, names };
});

/** ACME (RFC 8555): certificates for `names` obtained and renewed from `directory`, answering HTTP-01 on `http_listen`. */
const acme = z.strictObject({
  directory: z
    .string()
    .regex(/^https:\/\/\S+$/, 'expected the https:// URL of an ACME directory (RFC 8555 7.1.1)')
    .optional(),
  email: z
    .string()
    .regex(/^[^@\s]+@[^@\s]+$/, 'expected an email address')
    .optional(),
  names: z.array(domain).min(1),
  http_listen: hostPort.optional(),
  ca_file: z.string().min(1).optional(),
});
const outboundTls = z.enum(['opportunistic', 'required', 'none']);
const authTls = z.enum(['verified', 'any']);

export const fileSchema = z.strictObject({
  hostname: domain.optional(),
  data_dir: z.string().min(1).optional(),
  /** Started as root, `barge serve` binds its listeners and then runs as this user (and group) for good. */
  user: account.optional(),
  group: account.optional(),
  local_domains: z.array(domain).optional(),
  local_recipients: z
    .array(
      z
        .string()
        .regex(/^[^@\s]+@[^@\s]+$/, 'expected local@domain')
        .transform((a) => a.toLowerCase()),
    )
    .optional(),
  relay_networks: z.array(z.string().refine(isCidr, 'expected an address or CIDR block like 10.0.0.0/8')).optional(),
  smuggling: z.enum(['reject', 'normalise']).optional(),
  tls: tls.optional(),
  acme: acme.optional(),
  auth: z
    .strictObject({ max_failures: count.optional(), failure_window: duration.optional(), max_parallel_checks: count.optional() })
    .optional(),
  smart_host_auth: credentials.optional(),
  limits: z
    .strictObject({
      max_message_size: size.optional(),
      max_recipients: count.optional(),
      max_connections: count.optional(),
      max_connections_per_ip: count.optional(),
      max_errors: count.optional(),
      max_hops: count.optional(),
      max_junk_commands: count.optional(),
      max_recipient_overshoot: count.optional(),
      max_header_size: size.optional(),
      etrn_interval: duration.optional(),
      command_timeout: peerWait.optional(),
      data_timeout: peerWait.optional(),
    })
    .optional(),
  listener: z.record(z.string().regex(/^[A-Za-z0-9_-]+$/, 'expected a listener name of letters, digits, - and _'), listener).optional(),
  log: z
    .strictObject({
      w3c: z.boolean().optional(),
      w3c_fields: z.array(z.string()).optional(),
      w3c_flags: mask.optional(),
      tracking: z.boolean().optional(),
      keep_days: z.number().int().nonnegative().optional(),
    })
    .refine((l) => l.w3c_fields === undefined || l.w3c_flags === undefined, 'set w3c_fields or w3c_flags, not both')
    .optional(),
  queue: z.strictObject({ scan_interval: between(1000, 86_400_000).optional(), hold: z.boolean().optional() }).optional(),
  smart_host: hostPort.optional(),
  routes: z
    .record(
      domain,
      z.union([
        hostPort,
        z.strictObject({
          next_hop: hostPort,
          outbound_command_support: mask.optional(),
          chunking: z.enum(['auto', 'never']).optional(),
          pipelining: z.boolean().optional(),
          binarymime: z.boolean().optional(),
          tls: outboundTls.optional(),
          auth: credentials.optional(),
          auth_tls: authTls.optional(),
          fallback: z.boolean().optional(),
        }),
      ]),
    )
    .optional(),
  dns: z.strictObject({ servers: z.array(z.string().min(1)).optional() }).optional(),
  delivery: z
    .strictObject({
      outbound_command_support: mask.optional(),
      chunking: z.enum(['auto', 'never']).optional(),
      pipelining: z.boolean().optional(),
      binarymime: z.boolean().optional(),
      tls: outboundTls.optional(),
      auth_tls: authTls.optional(),
      fallback: z.boolean().optional(),
      quirk_ttl: duration.optional(),
      slow_chunk: duration.optional(),
      bdat_check_timeout: peerWait.optional(),
      chunk_size: size.optional(),
      retry_schedule: z.array(between(1000, MAX_TIMER_MS)).min(1).optional(),
      max_queue_lifetime: duration.optional(),
      delay_warning: duration.optional(),
      connect_timeout: peerWait.optional(),
      reply_timeout: peerWait.optional(),
      port: z.number().int().min(1).max(65535).optional(),
      max_per_destination: count.optional(),
    })
    .optional(),
  /** `[dkim."example.com"]`, or `[[dkim."example.com"]]` twice to sign with two keys (RSA and Ed25519). */
  dkim: z.record(domain, z.union([dkimKey, z.array(dkimKey).min(1)])).optional(),
  /** The checks hold the end-of-data reply, which a client awaits 10 minutes (RFC 5321 4.5.3.2.6): at most 5. */
  mail_auth: z.strictObject({ time_budget: between(0, 300_000).optional(), max_parallel_checks: count.optional() }).optional(),
  /** MTA-STS (RFC 8461) for MX deliveries; on unless turned off. */
  mta_sts: z.strictObject({ enabled: z.boolean().optional() }).optional(),
  /** `admin = false` turns the console off; `[admin] listen = "HOST:PORT"` moves it. */
  admin: z.union([z.boolean(), z.strictObject({ listen: hostPort.optional(), enabled: z.boolean().optional() })]).optional(),
});
export type FileConfig = z.infer<typeof fileSchema>;
