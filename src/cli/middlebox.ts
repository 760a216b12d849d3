/**
 * `barge middlebox`: run an emulated ESMTP-inspecting firewall between a client and a server, to
 * see how software copes with masked CHUNKING, BDAT black holes, tarpits and stripped STARTTLS.
 * Runs until SIGINT/SIGTERM and returns 0; bad arguments print usage and return 2.
 */
import { parseArgs } from 'node:util';
import { MIDDLEBOX_MODES, startMiddlebox, type MiddleboxMode } from '../middlebox/proxy.js';

export const MIDDLEBOX_USAGE = `usage: barge middlebox --listen HOST:PORT --upstream HOST:PORT --mode MODE [--tarpit SECONDS]
  Relays SMTP from --listen to --upstream, distorting it like an inspecting firewall.
  modes:
    mask-keywords     CHUNKING/BINARYMIME shown as XXXXXXXA/XXXXXXXXXA, BDAT answered 500
    drop-bdat         BDAT and everything after it vanish, never answered
    drop-second-bdat  a connection's first BDAT transaction passes, the second vanishes like drop-bdat
    reset-after-bdat  the connection is reset at the first BDAT
    tarpit-chunks     each non-final BDAT chunk is held --tarpit seconds (default 5)
    mask-banner       the 220 greeting becomes asterisks
    strip-starttls    STARTTLS removed from EHLO, the command answered 502
    pass              transparent`;

/** "host:25", "[::1]:25": a port is required. */
function parseAddress(text: string | undefined): { host: string; port: number } | undefined {
  if (text === undefined) return undefined;
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text);
  if (m === null) return undefined;
  const host = m[1] ?? m[2] ?? '';
  const port = Number(m[3]);
  return host !== '' && port >= 0 && port <= 65535 ? { host, port } : undefined;
}

const isMode = (text: string | undefined): text is MiddleboxMode => MIDDLEBOX_MODES.some((m) => m === text);

export async function runMiddlebox(args: readonly string[], out: (line: string) => void, err: (line: string) => void): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args: [...args],
      options: {
        listen: { type: 'string' },
        upstream: { type: 'string' },
        mode: { type: 'string' },
        tarpit: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (e) {
    err(`barge middlebox: ${e instanceof Error ? e.message : String(e)}`);
    err(MIDDLEBOX_USAGE);
    return 2;
  }
  if (values.help === true) {
    out(MIDDLEBOX_USAGE);
    return 0;
  }
  const listen = parseAddress(values.listen);
  const upstream = parseAddress(values.upstream);
  const mode = values.mode;
  const tarpitSeconds = values.tarpit === undefined ? 5 : Number(values.tarpit);
  const problem =
    listen === undefined ? `--listen wants HOST:PORT, got ${values.listen ?? 'nothing'}`
    : upstream === undefined || upstream.port === 0 ? `--upstream wants HOST:PORT, got ${values.upstream ?? 'nothing'}`
    : !isMode(mode) ? `--mode wants one of ${MIDDLEBOX_MODES.join(', ')}, got ${mode ?? 'nothing'}`
    : values.tarpit?.trim() === '' || !Number.isFinite(tarpitSeconds) || tarpitSeconds < 0 ? `--tarpit wants a number of seconds, got ${values.tarpit ?? ''}`
    : undefined;
  if (problem !== undefined || listen === undefined || upstream === undefined || !isMode(mode)) {
    err(`barge middlebox: ${problem ?? 'bad arguments'}`);
    err(MIDDLEBOX_USAGE);
    return 2;
  }
  let box;
  try {
    box = await startMiddlebox({ listen, upstream, mode, tarpitMs: Math.round(tarpitSeconds * 1000), log: out });
  } catch (e) {
    err(`barge middlebox: cannot listen on ${listen.host}:${listen.port}: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
  const shown = (a: { host: string; port: number }): string => (a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`);
  out(`barge middlebox: listening on ${shown(box.address)}, upstream ${shown(upstream)}, mode ${mode}`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await box.close();
  return 0;
}
