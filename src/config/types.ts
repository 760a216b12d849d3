/**
 * The frozen, typed configuration every other module receives. It is produced once by the loader
 * (schema + defaults + command-line flags); nothing else reads files or the environment for settings.
 */
import type { Extension } from '../protocol/extensions.js';
import type { AuthPolicy, TlsPolicy } from '../protocol/server-session.js';

export type SmugglingPolicy = 'reject' | 'normalise';

export interface ListenerConfig {
  /** The listener's name in the config (`[listener.smtp]` -> "smtp"). */
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** IIS-style inbound mask as configured (unknown bits kept). */
  readonly inboundMask: number;
  /** Extensions this listener advertises: the mask, then named switches, resolved. */
  readonly extensions: ReadonlySet<Extension>;
  /** VRFY: "cannot" answers 252 (RFC 5321 3.5.3), "off" answers 502. */
  readonly vrfy: 'cannot' | 'off';
  /** EXPN is refused with 502 unless on; Barge has no lists to expand, so "on" answers 252 as VRFY does. */
  readonly expn: boolean;
  /** Folder of the W3C protocol log under `<dataDir>/log/` ("SMTPSVC1", "SMTPSVC2", ...). */
  readonly logFolder: string;
  /** STARTTLS offered ("optional"), required before MAIL, not offered ("off"), or TLS on connect ("implicit"). */
  readonly tls: TlsPolicy;
  readonly auth: AuthPolicy;
  /** Offer AUTH before TLS (passwords in clear text); off unless configured. */
  readonly authCleartext: boolean;
  /** MAIL FROM must be an address the authenticated user owns (submission listeners). */
  readonly senderLogin: boolean;
  /** Inbound checks on mail from outside, and what their failures do (see mailauth/). */
  readonly mailAuth: InboundAuthPolicy;
  /**
   * PROXY protocol on: the networks of the load balancers whose header is trusted (required first on
   * every connection, and connections from elsewhere are refused). Undefined: off.
   */
  readonly proxyFrom: readonly string[] | undefined;
}

export interface InboundAuthPolicy {
  readonly enabled: boolean;
  /** "enforce": DMARC p=reject fails get 550 5.7.1, p=quarantine fails go to the Junk folder. */
  readonly dmarc: 'tag' | 'enforce';
  /** "reject": an SPF fail for MAIL FROM gets 550 5.7.23 (RFC 7372). */
  readonly spfFail: 'tag' | 'reject';
}

/** One DKIM key for a signing domain (`[dkim."example.com"]`). */
export interface DkimKeyConfig {
  readonly selector: string;
  /** Absolute path of the PEM private key (relative paths are under the data directory). */
  readonly keyFile: string;
  /** Undefined: taken from the key's type. */
  readonly algorithm: 'rsa-sha256' | 'ed25519-sha256' | undefined;
  /** Lower-case names of the fields to sign when present. */
  readonly headers: readonly string[];
}

/** PEM files for the server's certificate; undefined: a self-signed one is made under the data dir. */
export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

/** `[acme]`: one certificate for `names`, obtained and renewed from an ACME CA (RFC 8555). */
export interface AcmeConfig {
  /** The CA's directory URL (Let's Encrypt's unless configured). */
  readonly directory: string;
  /** The account's contact (RFC 8555 7.3), if given. */
  readonly email: string | undefined;
  /** Lower-case names the certificate is for; the first is its subject. */
  readonly names: readonly string[];
  /** Where HTTP-01 challenges are answered (RFC 8555 8.3): the CA connects to port 80 of each name. */
  readonly httpListen: HostPort;
  /** Extra PEM trust anchors for the directory's own HTTPS (beside the system's). */
  readonly caFile: string | undefined;
}

export interface Limits {
  readonly maxMessageSize: number;
  readonly maxRecipients: number;
  readonly maxConnections: number;
  readonly maxConnectionsPerIp: number;
  /** Errors in one session before 421 and close. */
  readonly maxErrors: number;
  /** Received: fields a message may carry (Barge's own included) before it is refused as a loop. */
  readonly maxHops: number;
  /** NOOP, RSET, VRFY, ETRN, HELP, HELO and EHLO in one session (between accepted messages) before 421 4.7.0 and close. */
  readonly maxJunkCommands: number;
  /** Recipients refused 452 past maxRecipients in one session before each further one counts as an error. */
  readonly maxRecipientOvershoot: number;
  /** Octets of header section a message may have (up to the empty line or the first line that is no field); more: 552 5.3.4. */
  readonly maxHeaderSize: number;
  /** An ETRN for a node whose queue run started less than this long ago gets 458. */
  readonly etrnIntervalMs: number;
  /** RFC 5321 4.5.3.2.7: 5 minutes waiting for the next command. */
  readonly commandTimeoutMs: number;
  /** RFC 5321 4.5.3.2.5/6: 3 minutes between body blocks (DATA) or chunk bytes (BDAT). */
  readonly dataBlockTimeoutMs: number;
}

export interface W3cLogConfig {
  readonly enabled: boolean;
  /** W3C field names in file order, chosen by name or from the `LogExtFileFlags` bitmask. */
  readonly fields: readonly string[];
}

export interface Config {
  readonly hostname: string;
  readonly dataDir: string;
  /** Who `barge serve` becomes once its listeners are bound, when started as root; undefined: it stays who it is. */
  readonly runAs: RunAs | undefined;
  /** Lower-case domains whose recipients are delivered to Maildir. */
  readonly localDomains: readonly string[];
  /** Known local addresses (lower case); when undefined every local-part of a local domain is accepted. */
  readonly localRecipients: readonly string[] | undefined;
  /** CIDR blocks allowed to relay to non-local domains. */
  readonly relayNetworks: readonly string[];
  readonly listeners: readonly ListenerConfig[];
  readonly tls: TlsFiles | undefined;
  /** `[tls."NAME"]` certificates by lower-case server name ("*.example.org" matches one label), chosen by SNI. */
  readonly tlsNames: ReadonlyMap<string, TlsFiles>;
  /** ACME-managed certificate; undefined without `[acme]`. */
  readonly acme: AcmeConfig | undefined;
  readonly auth: {
    /** Failed AUTH attempts from one client IP within the window before further attempts get 454 4.7.0. */
    readonly maxFailures: number;
    readonly failureWindowMs: number;
    /** Password hashes (scrypt) computed at once; more AUTH attempts wait their turn. */
    readonly maxParallelChecks: number;
  };
  readonly limits: Limits;
  readonly smuggling: SmugglingPolicy;
  readonly log: {
    readonly w3c: W3cLogConfig;
    readonly tracking: boolean;
    /** Days of log files kept, today included (older day files are removed daily); 0 keeps them all. */
    readonly keepDays: number;
  };
  readonly queue: {
    /** How often the queue runner scans for due entries, besides being woken on each new message. */
    readonly scanIntervalMs: number;
    /** Accept and queue only; deliver nothing (like Exim's queue_only) until started without it. */
    readonly hold: boolean;
  };
  readonly delivery: DeliveryConfig;
  /** Signing keys by lower-case domain; mail whose From domain is here is signed when relayed. */
  readonly dkim: ReadonlyMap<string, readonly DkimKeyConfig[]>;
  /** Inbound checks may hold the end-of-data reply this long; then the result is temperror. */
  readonly mailAuthBudgetMs: number;
  /** Inbound checks running at once; more wait their turn (their budget running). */
  readonly mailAuthMaxParallelChecks: number;
  /** Honour MTA-STS policies of destination domains reached by MX. */
  readonly mtaSts: boolean;
  /** The web console and /metrics; undefined when turned off (`admin = false`). */
  readonly admin: { readonly listen: HostPort } | undefined;
}

export interface RunAs {
  readonly user: string;
  /** Undefined: the user's own group (from the password database). */
  readonly group: string | undefined;
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** How Barge talks to a peer: globally in [delivery], overridden per route. */
export interface OutboundSwitches {
  /** IIS-style outbound mask (default 7; 5 turns outbound BDAT off). */
  readonly outboundMask: number;
  /** `"never"` turns outbound BDAT off whatever the mask says. */
  readonly chunking: 'auto' | 'never';
  /** Pipeline MAIL/RCPT and BDAT chunks when the peer offers PIPELINING. */
  readonly pipelining: boolean;
  /** Send binary content as BINARYMIME when offered; off converts it to base64 first. */
  readonly binarymime: boolean;
  /**
   * STARTTLS to the peer: when offered ("opportunistic", certificate not checked, a failed handshake
   * means clear text next time), always with a verified certificate ("required"), or never ("none").
   */
  readonly tls: 'opportunistic' | 'required' | 'none';
  /** When BDAT fails on the path, send by DATA at once and remember it for the destination. */
  readonly fallback: boolean;
  /** Credentials for AUTH PLAIN/LOGIN at the next hop (a smart host); only ever sent over TLS. */
  readonly auth: { readonly username: string; readonly password: string } | undefined;
  /** Credentials go only over TLS with a verified certificate ("verified"), or over any TLS ("any"). */
  readonly authTls: 'verified' | 'any';
}

export interface DeliveryConfig extends OutboundSwitches {
  /** Per-domain overrides of the outbound switches (from `[routes."domain"]` tables). */
  readonly routeSwitches: ReadonlyMap<string, OutboundSwitches>;
  readonly chunkSize: number;
  /** How long a learnt path quirk (no BDAT, no TLS, big chunks) is remembered. */
  readonly quirkTtlMs: number;
  /** Average delay per non-final chunk above which a peer gets whole messages as one chunk. */
  readonly slowChunkMs: number;
  /** How long the check chunk sent to a path of unknown BDAT health may wait for its answer. */
  readonly bdatCheckTimeoutMs: number;
  /** Per-domain next hops (a transport map), lower-case domains. */
  readonly routes: ReadonlyMap<string, HostPort>;
  readonly smartHost: HostPort | undefined;
  /** AUTH credentials for the smart host. */
  readonly smartHostAuth: { readonly username: string; readonly password: string } | undefined;
  /** DNS servers for MX lookups ("127.0.0.1:5353"); the system's when undefined. */
  readonly dnsServers: readonly string[] | undefined;
  /** Delays before the 1st, 2nd, ... retry; the last one repeats. */
  readonly retryScheduleMs: readonly number[];
  readonly maxQueueLifetimeMs: number;
  readonly delayWarningMs: number;
  readonly connectTimeoutMs: number;
  readonly replyTimeoutMs: number;
  /** Sessions at once to one destination host and port. */
  readonly maxPerDestination: number;
  /** Port for MX and A/AAAA next hops (25; like Exim's smtp transport `port`). */
  readonly remotePort: number;
}
