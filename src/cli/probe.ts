/**
 * `barge probe HOST[:PORT]`: diagnose the path to one SMTP server (ESMTP inspection, BDAT black
 * holes, stripped STARTTLS) and say in plain words what is wrong. Returns the verdict's exit code:
 * 0 clean or no-chunking, 1 a problem found, 2 unreachable or bad arguments.
 */
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { QuirkStore, quirksPath } from '../client/quirks.js';
import { loadConfig } from '../config/load.js';
import { isMaskedKeyword } from '../protocol/ehlo.js';
import { formatHostPort, parseHostPort } from '../protocol/host-port.js';
import { forgetIfClean } from '../probe/forget.js';
import { probePath, type ProbeReport, type StepRecord } from '../probe/probe.js';

export const PROBE_USAGE = `usage: barge probe HOST[:PORT] [--json] [--from ADDR] [--rcpt ADDR] [--helo NAME]
                   [--timeout SECONDS] [--slow-chunk SECONDS] [--no-tls] [--data-dir DIR] [--config FILE]
  Tests the path to an SMTP server (port 25 by default; IPv6 as [::1]:25) for ESMTP inspection
  that breaks CHUNKING/BDAT. Nothing is delivered: the BDAT chunk is never completed and the DATA
  test closes before the end of the message.
  --from ADDR          envelope sender (default: the null sender <>)
  --rcpt ADDR          envelope recipient (default: postmaster)
  --helo NAME          name sent in EHLO (default: this host's name)
  --timeout SECONDS    limit for each step (default 10)
  --slow-chunk SECONDS a chunk answered later than this is delayed (default 2)
  --no-tls             do not try STARTTLS
  --data-dir DIR       on a clean verdict, forget the quirks Barge learnt for HOST (its name or address)
  --config FILE        resolve HOST with the configuration's [dns] servers, as delivery does
  --json               print one JSON object
exit: 0 clean or no-chunking, 1 a problem was found, 2 unreachable or bad arguments`;

/** A positive number of seconds, in milliseconds. */
function seconds(value: string | undefined, fallback: number): number | undefined {
  if (value === undefined) return fallback;
  const n = Number(value);
  return value.trim() !== '' && Number.isFinite(n) && n > 0 ? Math.round(n * 1000) : undefined;
}

const PROBE_OPTIONS = {
  json: { type: 'boolean' },
  from: { type: 'string' },
  rcpt: { type: 'string' },
  helo: { type: 'string' },
  timeout: { type: 'string' },
  'slow-chunk': { type: 'string' },
  'no-tls': { type: 'boolean' },
  'data-dir': { type: 'string' },
  config: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function runProbe(args: readonly string[], out: (line: string) => void, err: (line: string) => void): Promise<number> {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; allowPositionals: true; options: typeof PROBE_OPTIONS }>>;
  try {
    parsed = parseArgs({ args: [...args], allowPositionals: true, options: PROBE_OPTIONS });
  } catch (e) {
    err(`barge probe: ${e instanceof Error ? e.message : String(e)}`);
    err(PROBE_USAGE);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    out(PROBE_USAGE);
    return 0;
  }
  const target = positionals.length === 1 && positionals[0] !== undefined ? parseHostPort(positionals[0], { defaultPort: 25 }) : undefined;
  const timeoutMs = seconds(values.timeout, 10_000);
  const slowChunkMs = seconds(values['slow-chunk'], 2000);
  const problem =
    target === undefined
      ? `expected one HOST[:PORT], got ${positionals.length === 0 ? 'none' : positionals.join(' ')}`
      : timeoutMs === undefined
        ? `--timeout wants a positive number of seconds, got ${values.timeout ?? ''}`
        : slowChunkMs === undefined
          ? `--slow-chunk wants a positive number of seconds, got ${values['slow-chunk'] ?? ''}`
          : [values.from, values.rcpt].some((a) => a !== undefined && /[<>\s]/.test(a))
            ? '--from and --rcpt take a bare address, without <> or spaces'
            : undefined;
  if (problem !== undefined || target === undefined || timeoutMs === undefined || slowChunkMs === undefined) {
    err(`barge probe: ${problem ?? 'bad arguments'}`);
    err(PROBE_USAGE);
    return 2;
  }
  const dnsServers = values.config === undefined ? undefined : (await loadConfig(values.config, {}, hostname())).delivery.dnsServers;
  const address = await resolveLikeDelivery(target.host, dnsServers);
  const probed = await probePath({
    host: address ?? target.host,
    port: target.port,
    helo: values.helo ?? hostname(),
    from: values.from ?? '',
    rcpt: values.rcpt ?? 'postmaster',
    timeoutMs,
    slowChunkMs,
    tls: values['no-tls'] !== true,
  });
  const report: ProbeReport = { ...probed, host: target.host };
  if (values.json === true) {
    const { host, port, verdict, exitCode, text, findings, banner, keywords, maskedKeywords, tls, steps, usesBdat } = report;
    out(
      JSON.stringify({
        host,
        port,
        verdict,
        exitCode,
        text,
        findings,
        banner: banner ?? null,
        keywords,
        maskedKeywords,
        tls,
        steps,
        usesBdat,
      }),
    );
  } else for (const line of describe(report)) out(line);
  const dataDir = values['data-dir'];
  if (dataDir !== undefined) {
    const cleared = await forgetIfClean(await QuirkStore.open(quirksPath(dataDir)), target, address, report.exitCode);
    if (cleared > 0) out(`forgot ${cleared} quirk(s) for ${formatHostPort(target)}: the path is clean`);
  }
  return report.exitCode;
}

/**
 * With configured DNS servers, a host name is resolved as delivery resolves a next hop (A first,
 * then AAAA), so the probe tests the address delivery uses; otherwise the system resolves it.
 */
async function resolveLikeDelivery(host: string, servers: readonly string[] | undefined): Promise<string | undefined> {
  if (servers === undefined || isIP(host) !== 0) return undefined;
  const dns = new Resolver({ timeout: 5000, tries: 2 });
  dns.setServers([...servers]);
  for (const lookup of [dns.resolve4.bind(dns), dns.resolve6.bind(dns)]) {
    const found = await lookup(host).catch(() => []);
    if (found[0] !== undefined) return found[0];
  }
  return undefined;
}

function step(s: StepRecord): string {
  const result = s.reply !== undefined ? s.reply.text : s.error !== undefined ? `error: ${s.error}` : 'ok';
  return `  ${s.step.padEnd(20)} ${(s.command === '' ? '(wait)' : s.command).padEnd(28)} ${result}  (${s.ms} ms)`;
}

/** The human report: what was seen, step by step, then the verdict in plain words. */
export function describe(r: ProbeReport): string[] {
  const lines = [`probe ${formatHostPort(r)}`, `banner: ${r.banner ?? '(none)'}`];
  lines.push(
    `keywords: ${r.keywords.length === 0 ? '(none)' : r.keywords.map((k) => (isMaskedKeyword(k) ? `${k} [masked]` : k)).join(', ')}`,
  );
  const t = r.tls;
  lines.push(
    `tls: ${
      r.verdict === 'unreachable'
        ? 'not tested'
        : t.state === 'ok'
          ? `${t.protocol} ${t.cipher}, certificate ${t.authorized ? 'verified' : `not verified (${t.authorizationError ?? 'unknown reason'})`}` +
            `${t.hostnameMatches === false ? ', does not name this host' : ''}`
          : t.state === 'failed'
            ? `failed: ${t.error}`
            : t.state === 'skipped'
              ? `not tried (--no-tls); STARTTLS ${t.offered ? 'offered' : 'not offered'}`
              : 'STARTTLS not offered'
    }`,
  );
  lines.push('steps:', ...r.steps.map(step));
  lines.push(`verdict: ${r.verdict}`, r.text);
  for (const [i, f] of r.findings.entries()) if (i > 0) lines.push(`also ${f}: ${r.texts[i] ?? ''}`);
  return lines;
}
