/**
 * Every default of the configuration, and the value parsers its schema and the command-line flags
 * share. No zod here: the server process imports this, and validates its file in a child (load.ts).
 */
import { isIP } from 'node:net';
import { DEFAULT_INBOUND_MASK, DEFAULT_OUTBOUND_MASK } from '../protocol/extensions.js';
import { DEFAULT_W3C_FIELDS } from '../log/w3c-fields.js';
import { parseHostPort, type HostPort } from '../protocol/host-port.js';

export const DEFAULTS = {
  listenerName: 'smtp',
  listen: '127.0.0.1:2525',
  dataDir: './var',
  relayNetworks: ['127.0.0.0/8', '::1/128'],
  maxMessageSize: 50 * 1024 * 1024,
  /** Exim's header_maxsize (Postfix keeps 100 KB of a header and drops the rest). */
  maxHeaderSize: 1024 * 1024,
  maxRecipients: 100,
  maxConnections: 1000,
  maxConnectionsPerIp: 100,
  maxErrors: 10,
  /** Postfix's hopcount_limit (Exim's received_headers_max is 30). */
  maxHops: 50,
  /** Postfix's smtpd_junk_command_limit. */
  maxJunkCommands: 100,
  /** Postfix's smtpd_recipient_overshoot_limit: recipients past max_recipients before each counts as an error. */
  maxRecipientOvershoot: 1000,
  /** One ETRN-started queue run per node at most this often. */
  etrnIntervalMs: 10_000,
  /** RFC 5321 4.5.3.2.7 and 4.5.3.2.5/6. */
  commandTimeoutMs: 5 * 60_000,
  dataTimeoutMs: 3 * 60_000,
  scanIntervalMs: 60_000,
  /** The classic service's schedule: 15, 30, 60, 240 minutes, then every 4 hours. */
  retryScheduleMs: [15 * 60_000, 30 * 60_000, 60 * 60_000, 240 * 60_000],
  maxQueueLifetimeMs: 5 * 86_400_000,
  delayWarningMs: 4 * 3_600_000,
  chunkSize: 1024 * 1024,
  connectTimeoutMs: 30_000,
  /** RFC 5321 4.5.3.2: minutes per reply; 5 is the longest it suggests for commands. */
  replyTimeoutMs: 5 * 60_000,
  /** A non-final BDAT chunk is answered once read (RFC 3030 2): far shorter than the end-of-data wait. */
  bdatCheckTimeoutMs: 30_000,
  inboundMask: DEFAULT_INBOUND_MASK,
  outboundMask: DEFAULT_OUTBOUND_MASK,
  w3cFields: DEFAULT_W3C_FIELDS,
  /** Days of W3C and tracking log files kept (a month of history). */
  logKeepDays: 30,
  authMaxFailures: 5,
  authFailureWindowMs: 10 * 60_000,
  /** RFC 6376 5.4.1's recommended fields; From is always signed and over-signed. */
  dkimHeaders: [
    'from',
    'to',
    'cc',
    'subject',
    'date',
    'message-id',
    'reply-to',
    'in-reply-to',
    'references',
    'mime-version',
    'content-type',
    'content-transfer-encoding',
    'list-unsubscribe',
    'list-unsubscribe-post',
  ],
  /** The longest SPF, DKIM and DMARC checks may hold the reply at end of data before the result is temperror. */
  mailAuthBudgetMs: 5000,
  /** Inbound checks running at once in the check worker (mostly waiting on DNS); more wait their turn. */
  mailAuthMaxParallelChecks: 8,
  /** scrypt checks at once: libuv's pool has 4 threads, and the spool's file I/O needs the others. */
  authMaxParallelChecks: 2,
  /** The web console and /metrics: loopback only unless configured otherwise. */
  adminListen: '127.0.0.1:8025',
  acmeDirectory: 'https://acme-v02.api.letsencrypt.org/directory',
  /** HTTP-01 is answered on port 80 of the name (RFC 8555 8.3). */
  acmeHttpListen: '0.0.0.0:80',
} as const;

const UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  kb: 1024,
  kib: 1024,
  k: 1024,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  m: 1024 ** 2,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  g: 1024 ** 3,
};
const DURATIONS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "50MB", "10 MiB", "512KB" or a plain number of bytes (binary units, as mail servers use them). */
export function parseSize(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = UNITS[(m?.[2] ?? '').toLowerCase()];
  if (m === null || unit === undefined) return undefined;
  return Math.floor(Number(m[1]) * unit);
}

/** The longest wait a Node timer holds (about 24.8 days): a longer one fires after 1 ms instead. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A duration in the largest unit that divides it ("1h", "90s", "1500ms"), for messages. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const [name, size] = Object.entries(DURATIONS)
    .filter(([, unit]) => ms % unit === 0)
    .reduce((best, next) => (next[1] > best[1] ? next : best), ['ms', 1]);
  const approx = size === 1 && ms >= 86_400_000 ? ` (about ${(ms / 86_400_000).toFixed(1)}d)` : '';
  return `${ms / size}${name}${approx}`;
}

/** "5m", "30s", "1500ms", "1h", "5d". */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/i.exec(text);
  const unit = DURATIONS[(m?.[2] ?? '').toLowerCase()];
  if (m === null || unit === undefined) return undefined;
  return Math.round(Number(m[1]) * unit);
}

/** "HOST:PORT" in configuration, with IPv6 hosts in brackets ("[::1]:25"); port 0 lets a listener take any free port. */
export function parseConfigHostPort(text: string): HostPort | undefined {
  return parseHostPort(text, { allowZero: true });
}

/** A user or group name as the password and group databases spell them (a trailing $ for machine accounts), or a number. */
export function isAccountName(text: string): boolean {
  return /^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$/.test(text);
}

export function isCidr(text: string): boolean {
  const [net = '', bits, extra] = text.split('/');
  const family = isIP(net);
  if (family === 0 || extra !== undefined) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}
