/**
 * `barge probe HOST[:PORT]`: diagnose the path to one SMTP server (ESMTP inspection, BDAT black
 * holes, stripped STARTTLS) and say in plain words what is wrong. Returns the verdict's exit code:
 * 0 clean or no-chunking, 1 a problem found, 2 unreachable or bad arguments.
 */
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { probePath, type ProbeReport, type StepRecord } from '../probe/probe.js';
import { isMaskedKeyword } from '../probe/verdict.js';
import { QuirkStore, quirksPath } from '../client/quirks.js';

export const PROBE_USAGE = `usage: barge probe HOST[:PORT] [--json] [--from ADDR] [--rcpt ADDR] [--helo NAME]
                   [--timeout SECONDS] [--slow-chunk SECONDS] [--no-tls]
  Tests the path to an SMTP server (port 25 by default; IPv6 as [::1]:25) for ESMTP inspection
  that breaks CHUNKING/BDAT. Nothing is delivered: the BDAT chunk is never completed and the DATA
  test closes before the end of the message.
  --from ADDR          envelope sender (default: the null sender <>)
  --rcpt ADDR          envelope recipient (default: postmaster)
  --helo NAME          name sent in EHLO (default: this host's name)
  --timeout SECONDS    limit for each step (default 10)
  --slow-chunk SECONDS a chunk answered later than this is delayed (default 2)
  --no-tls             do not try STARTTLS
  --json               print one JSON object
exit: 0 clean or no-chunking, 1 a problem was found, 2 unreachable or bad arguments`;

/** "host", "host:25", "[::1]:25", "[::1]", "::1" (a bare IPv6 address has no port). */
export function parseTarget(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+))(?::(\d{1,5}))?$/.exec(text);
  if (m === null) return isIP(text) === 6 ? { host: text, port: 25 } : undefined;
  const port = m[3] === undefined ? 25 : Number(m[3]);
  const host = m[1] ?? m[2] ?? '';
  return port >= 1 && port <= 65535 && host !== '' ? { host, port } : undefined;
}

/** A clean probe (exit 0) lifts what Barge remembered about that path; returns how many quirks went. */
export async function forgetIfClean(dataDir: string, target: { host: string; port: number }, exitCode: number, store?: QuirkStore): Promise<number> {
  if (exitCode !== 0) return 0;
  return (store ?? (await QuirkStore.open(quirksPath(dataDir)))).clear(`${target.host}:${target.port}`);
}

/** A positive number of seconds, in milliseconds. */
function seconds(value: string | undefined, fallback: number): number | undefined {
  if (value === undefined) return fallback;
  const n = Number(value);
  return value.trim() !== '' && Number.isFinite(n) && n > 0 ? Math.round(n * 1000) : undefined;
}

export async function runProbe(args: readonly string[], out: (line: string) => void, err: (line: string) => void): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      options: {
        json: { type: 'boolean' },
        from: { type: 'string' },
        rcpt: { type: 'string' },
        helo: { type: 'string' },
        timeout: { type: 'string' },
        'slow-chunk': { type: 'string' },
        'no-tls': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
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
  const target = positionals.length === 1 && positionals[0] !== undefined ? parseTarget(positionals[0]) : undefined;
  const timeoutMs = seconds(values.timeout, 10_000);
  const slowChunkMs = seconds(values['slow-chunk'], 2000);
  const problem =
    target === undefined ? `expected one HOST[:PORT], got ${positionals.length === 0 ? 'none' : positionals.join(' ')}`
    : timeoutMs === undefined ? `--timeout wants a positive number of seconds, got ${values.timeout ?? ''}`
    : slowChunkMs === undefined ? `--slow-chunk wants a positive number of seconds, got ${values['slow-chunk'] ?? ''}`
    : [values.from, values.rcpt].some((a) => a !== undefined && /[<>\s]/.test(a)) ? '--from and --rcpt take a bare address, without <> or spaces'
    : undefined;
  if (problem !== undefined || target === undefined || timeoutMs === undefined || slowChunkMs === undefined) {
    err(`barge probe: ${problem ?? 'bad arguments'}`);
    err(PROBE_USAGE);
    return 2;
  }
  const report = await probePath({
    ...target,
    helo: values.helo ?? hostname(),
    from: values.from ?? '',
    rcpt: values.rcpt ?? 'postmaster',
    timeoutMs,
    slowChunkMs,
    tls: values['no-tls'] !== true,
  });
  if (values.json === true) {
    const { host, port, verdict, exitCode, text, findings, banner, keywords, maskedKeywords, tls, steps, usesBdat } = report;
    out(JSON.stringify({ host, port, verdict, exitCode, text, findings, banner: banner ?? null, keywords, maskedKeywords, tls, steps, usesBdat }));
  } else for (const line of describe(report)) out(line);
  return report.exitCode;
}

function step(s: StepRecord): string {
  const result = s.reply !== undefined ? s.reply.text : s.error !== undefined ? `error: ${s.error}` : 'ok';
  return `  ${s.step.padEnd(20)} ${(s.command === '' ? '(wait)' : s.command).padEnd(28)} ${result}  (${s.ms} ms)`;
}

/** The human report: what was seen, step by step, then the verdict in plain words. */
export function describe(r: ProbeReport): string[] {
  const target = r.host.includes(':') ? `[${r.host}]:${r.port}` : `${r.host}:${r.port}`;
  const lines = [`probe ${target}`, `banner: ${r.banner ?? '(none)'}`];
  lines.push(`keywords: ${r.keywords.length === 0 ? '(none)' : r.keywords.map((k) => (isMaskedKeyword(k) ? `${k} [masked]` : k)).join(', ')}`);
  const t = r.tls;
  lines.push(
    `tls: ${
      r.verdict === 'unreachable' ? 'not tested'
      : t.state === 'ok'
        ? `${t.protocol} ${t.cipher}, certificate ${t.authorized ? 'verified' : `not verified (${t.authorizationError ?? 'unknown reason'})`}${t.hostnameMatches === false ? ', does not name this host' : ''}`
        : t.state === 'failed' ? `failed: ${t.error}`
        : t.state === 'skipped' ? `not tried (--no-tls); STARTTLS ${t.offered ? 'offered' : 'not offered'}`
        : 'STARTTLS not offered'
    }`,
  );
  lines.push('steps:', ...r.steps.map(step));
  lines.push(`verdict: ${r.verdict}`, r.text);
  for (const [i, f] of r.findings.entries()) if (i > 0) lines.push(`also ${f}: ${r.texts[i] ?? ''}`);
  return lines;
}
