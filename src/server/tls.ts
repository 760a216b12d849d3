/**
 * The server's TLS certificates, chosen per handshake by the name the client asks for (SNI,
 * RFC 6066 3): a `[tls."NAME"]` certificate for that name, else the ACME certificate when the name is
 * one of `[acme] names`, else a `[tls."*.PARENT"]` certificate when the name is one label under
 * PARENT (RFC 6125 6.4.3), else the default. The default is `[tls] cert/key`, else the ACME
 * certificate once there is one, else a self-signed certificate for the hostname (self-signed.ts).
 * Configured files are read again on reload (SIGHUP), all or none: a renewed or new certificate
 * needs no restart, and one bad file keeps every old one in use. The ACME renewer hands its
 * certificate over with `useAcme`; either way only new handshakes see the change.
 */
import { createSecureContext, type SecureContext } from 'node:tls';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import type { Config, TlsFiles } from '../config/types.js';
import { ConfigError } from '../config/assemble.js';
import { systemErrorText } from '../config/system-errors.js';
import { realClock, type Clock } from '../time/clock.js';
import { selfSigned, type PemPair } from './self-signed.js';

export { generateSelfSigned } from './self-signed.js';

/** What the console and /metrics tell of a certificate being served. */
export interface CertificateInfo {
  /** The configuration entry it serves: "default", a `[tls."NAME"]` key, or "acme". */
  readonly entry: string;
  /** Where it comes from ("certificate /etc/barge/mx.pem", "self-signed certificate for …"). */
  readonly source: string;
  /** The DNS names it is valid for: its subjectAltName, else its subject's CN. */
  readonly names: readonly string[];
  readonly notAfter: Date;
  readonly serial: string;
}

/**
 * The certificates a configuration names, read and ready for handshakes: the default and those by
 * name. Reading them is separate from using them (`TlsCredentials.use`), so a reload reads every file
 * first and changes nothing when one fails.
 */
export interface TlsMaterial {
  readonly base: Installed;
  readonly named: ReadonlyMap<string, Installed>;
  /** `[tls] cert/key` is configured (else the ACME certificate may stand in for the default). */
  readonly configured: boolean;
}

interface Installed {
  readonly context: SecureContext;
  readonly pem: PemPair;
  readonly info: CertificateInfo;
}

/** Node's SNICallback: the context for the name a client asked for. */
export type SniCallback = (servername: string, answer: (err: Error | null, context?: SecureContext) => void) => void;

export class TlsCredentials {
  #default: Installed;
  /** Configured by name: exact names and "*.parent" wildcards, lower case. */
  #named: ReadonlyMap<string, Installed>;
  #acme: { readonly installed: Installed; readonly names: ReadonlySet<string> } | undefined;
  #configured: boolean;

  private constructor(material: TlsMaterial) {
    this.#default = material.base;
    this.#named = material.named;
    this.#configured = material.configured;
  }

  /** Loads the configured files, or makes (or reuses) the self-signed pair for the default. */
  static async open(config: Config, clock: Clock = realClock): Promise<TlsCredentials> {
    return new TlsCredentials(await loadTlsMaterial(config, clock));
  }

  /** The default context: for clients that send no name, and for names nothing else serves. */
  get context(): SecureContext {
    return this.#fallback().context;
  }

  /** The default PEM pair, for the admin console's HTTPS listener. */
  get pem(): PemPair {
    return this.#fallback().pem;
  }

  /** "certificate /etc/barge/cert.pem" or "self-signed certificate for mx.example (…)", and the names served. */
  get description(): string {
    const named = [...this.#named.keys(), ...(this.#acme?.names ?? [])];
    return `${this.#fallback().info.source}${named.length === 0 ? '' : `; by name (SNI): ${named.join(', ')}`}`;
  }

  /** The context for a server name (SNI): exact name, ACME name, one-label wildcard, then the default. */
  contextFor(servername: string): SecureContext {
    const name = servername.toLowerCase().replace(/\.$/, '');
    const exact = this.#named.get(name) ?? (this.#acme?.names.has(name) === true ? this.#acme.installed : undefined);
    if (exact !== undefined) return exact.context;
    const dot = name.indexOf('.');
    const wildcard = dot > 0 ? this.#named.get(`*${name.slice(dot)}`) : undefined;
    return (wildcard ?? this.#fallback()).context;
  }

  /** For TLSSocket's `SNICallback`: called during each handshake that carries a name. */
  readonly sniCallback: SniCallback = (servername, answer) => answer(null, this.contextFor(servername));

  /** Every certificate being served: the default (unless the ACME one stands in for it), by name, and ACME's. */
  certificates(): CertificateInfo[] {
    const base = this.#fallback() === this.#default ? [this.#default.info] : [];
    return [...base, ...[...this.#named.values()].map((n) => n.info), ...(this.#acme === undefined ? [] : [this.#acme.installed.info])];
  }

  /** Handshakes from now on use `material` (a reload's, already read); secured connections keep theirs. */
  use(material: TlsMaterial): void {
    this.#default = material.base;
    this.#named = material.named;
    this.#configured = material.configured;
  }

  /** Serves an ACME certificate for `names` from the next handshake on; throws if the pair does not load. */
  useAcme(pem: PemPair, names: readonly string[], source: string): void {
    this.#acme = { installed: install('acme', 'acme', source, pem), names: new Set(names.map((n) => n.toLowerCase())) };
  }

  #fallback(): Installed {
    return !this.#configured && this.#acme !== undefined ? this.#acme.installed : this.#default;
  }
}

/**
 * Reads every certificate `config` names (or makes or reuses the self-signed default) and builds the
 * contexts. A file that cannot be read, or a pair that does not match, is a ConfigError naming the
 * key and file: at start it stops `barge serve` with that line, on reload it refuses the reload.
 */
export async function loadTlsMaterial(config: Config, clock: Clock = realClock): Promise<TlsMaterial> {
  const files = config.tls;
  const basePem =
    files === undefined
      ? await selfSigned(join(config.dataDir, 'tls'), config.hostname, clock)
      : { ...(await readPair('tls', files)), description: `certificate ${files.certFile}` };
  const named = await Promise.all(
    [...config.tlsNames].map(
      async ([name, f]) =>
        [name, install(`tls."${name}"`, name, `certificate ${f.certFile}`, await readPair(`tls."${name}"`, f), f)] as const,
    ),
  );
  return { base: install('tls', 'default', basePem.description, basePem, files), named: new Map(named), configured: files !== undefined };
}

async function readPair(key: string, files: TlsFiles): Promise<PemPair> {
  return { cert: await readPem(files.certFile, `${key}.cert`), key: await readPem(files.keyFile, `${key}.key`) };
}

async function readPem(path: string, key: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`${key}: cannot read ${path}: ${systemErrorText(e)}`);
  }
}

/** A context for the pair (which must match: createSecureContext checks the key) and what it says of itself. */
function install(key: string, entry: string, source: string, pem: PemPair, files?: TlsFiles): Installed {
  try {
    const context = createSecureContext({ cert: pem.cert, key: pem.key, minVersion: 'TLSv1.2' });
    return { context, pem: { cert: pem.cert, key: pem.key }, info: describe(entry, source, pem.cert) };
  } catch (e) {
    const pair = files === undefined ? `${key}: ${source}` : `${key}.cert ${files.certFile} and ${key}.key ${files.keyFile}`;
    throw new ConfigError(`${pair}: not a usable certificate and private key: ${systemErrorText(e)}`);
  }
}

/** Names and expiry of the first certificate of a PEM chain. */
function describe(entry: string, source: string, certPem: string): CertificateInfo {
  const x509 = new X509Certificate(certPem);
  const dns = (x509.subjectAltName ?? '')
    .split(', ')
    .filter((n) => n.startsWith('DNS:'))
    .map((n) => n.slice(4));
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(x509.subject)?.[1];
  return {
    entry,
    source,
    names: dns.length > 0 ? dns : cn === undefined ? [] : [cn],
    notAfter: new Date(x509.validTo),
    serial: x509.serialNumber,
  };
}
