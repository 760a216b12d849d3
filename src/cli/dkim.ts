/**
 * `barge dkim keygen DOMAIN --selector S [--algorithm rsa|ed25519]` writes a private key under the
 * data directory and prints the TXT record to publish; `barge dkim check DOMAIN --selector S` looks
 * the record up (through `[dns] servers` when set) and says whether it matches the key.
 */
import { createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Resolver } from 'node:dns/promises';
import type { Config } from '../config/types.js';
import { dkimKeyPath, dnsTxtRecord, generateDkimKey, parseKeyRecord, publicKeyData, zoneStrings } from '../mailauth/dkim-keys.js';

export interface DkimArgs {
  readonly action: string | undefined;
  readonly domain: string | undefined;
  readonly selector: string | undefined;
  readonly algorithm: string | undefined;
}

const USAGE = 'usage: barge dkim keygen DOMAIN --selector S [--algorithm rsa|ed25519] | dkim check DOMAIN --selector S';

export async function runDkim(config: Config, args: DkimArgs, out: (line: string) => void, err: (line: string) => void): Promise<number> {
  const domain = args.domain?.toLowerCase().replace(/\.$/, '');
  const { selector } = args;
  if (
    domain === undefined ||
    selector === undefined ||
    !/^[a-z0-9.-]+$/.test(domain) ||
    !/^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/.test(selector)
  ) {
    err(USAGE);
    return 2;
  }
  const configured = config.dkim.get(domain)?.find((k) => k.selector === selector);
  const path = configured?.keyFile ?? dkimKeyPath(config.dataDir, domain, selector);
  const name = `${selector}._domainkey.${domain}`;
  if (args.action === 'keygen') {
    const algorithm = args.algorithm ?? 'rsa';
    if (algorithm !== 'rsa' && algorithm !== 'ed25519') {
      err(USAGE);
      return 2;
    }
    try {
      const key = await generateDkimKey(path, algorithm);
      out(`wrote ${path} (mode 0600)`);
      out('publish this TXT record:');
      out(`${name}. IN TXT ${zoneStrings(dnsTxtRecord(key))}`);
      out('and add to the configuration:');
      out(
        `[dkim."${domain}"]\nselector = "${selector}"\nkey = "${path}"\nalgorithm = "${algorithm === 'rsa' ? 'rsa-sha256' : 'ed25519-sha256'}"`,
      );
      return 0;
    } catch (e) {
      err(`barge: ${(e as NodeJS.ErrnoException).code === 'EEXIST' ? `${path} exists; choose another selector` : String(e)}`);
      return 1;
    }
  }
  if (args.action !== 'check') {
    err(USAGE);
    return 2;
  }
  let expected: string;
  try {
    expected = publicKeyData(createPrivateKey(await readFile(path)));
  } catch (e) {
    err(`barge: cannot read the key ${path}: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
  const resolver = new Resolver({ timeout: 5000, tries: 2 });
  if (config.delivery.dnsServers !== undefined) resolver.setServers([...config.delivery.dnsServers]);
  let records: string[][];
  try {
    records = await resolver.resolveTxt(name);
  } catch (e) {
    out(
      `${name}: no record (${(e as NodeJS.ErrnoException).code ?? String(e)}); publish: ${zoneStrings(dnsTxtRecord(createPrivateKey(await readFile(path))))}`,
    );
    return 1;
  }
  // A TXT record's strings are one value (RFC 6376 3.6.2.2); a selector should have exactly one.
  const keys = records.map((r) => parseKeyRecord(r.join(''))).filter((t) => t.has('p'));
  if (keys.length !== 1) {
    out(`${name}: ${keys.length} key records found; exactly one is needed`);
    return 1;
  }
  const published = keys[0]?.get('p') ?? '';
  if (published === expected) {
    out(`${name}: the published key matches ${path}`);
    return 0;
  }
  out(`${name}: the published key does NOT match ${path}${published === '' ? ' (p= is empty: the key is revoked)' : ''}`);
  return 1;
}
