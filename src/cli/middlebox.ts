/**
 * `barge middlebox`: run an emulated ESMTP-inspecting firewall between a client and a server, to
 * see how software copes with masked CHUNKING, BDAT black holes, tarpits and stripped STARTTLS.
 * Runs until SIGINT/SIGTERM and returns 0; bad arguments print usage and return 2.
 */
import { parseArgs } from 'node:util';
import { formatHostPort, parseHostPort, type HostPort } from '../protocol/host-port.js';
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

/** "host:25", "[::1]:25": a port is required (0 lets --listen take a free one). */
const parseAddress = (text: string | undefined): HostPort | undefined =>
  text === undefined ? undefined : parseHostPort(text, { allowZero: true });

const isMode = (text: string | undefined): text is MiddleboxMode => MIDDLEBOX_MODES.some((m) => m === text);

const MIDDLEBOX_OPTIONS = {
  listen: { type: 'string' },
  upstream: { type: 'string' },
  mode: { type: 'string' },
  tarpit: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function runMiddlebox(args: readonly string[], out: (line: string) => void, err: (line: string) => void): Promise<number> {
  let values: ReturnType<typeof parseArgs<{ args: string[]; options: typeof MIDDLEBOX_OPTIONS }>>['values'];
  try {
    values = parseArgs({ args: [...args], options: MIDDLEBOX_OPTIONS }).values;
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
    listen === undefined
      ? `--listen wants HOST:PORT, got ${values.listen ?? 'nothing'}`
      : upstream === undefined || upstream.port === 0
        ? `--upstream wants HOST:PORT, got ${values.upstream ?? 'nothing'}`
        : !isMode(mode)
          ? `--mode wants one of ${MIDDLEBOX_MODES.join(', ')}, got ${mode ?? 'nothing'}`
          : values.tarpit?.trim() === '' || !Number.isFinite(tarpitSeconds) || tarpitSeconds < 0
            ? `--tarpit wants a number of seconds, got ${values.tarpit ?? ''}`
            : undefined;
  if (problem !== undefined || listen === undefined || upstream === undefined || !isMode(mode)) {
    err(`barge middlebox: ${problem ?? 'bad arguments'}`);
    err(MIDDLEBOX_USAGE);
    return 2;
  }
  let box: Awaited<ReturnType<typeof startMiddlebox>>;
  try {
    box = await startMiddlebox({ listen, upstream, mode, tarpitMs: Math.round(tarpitSeconds * 1000), log: out });
  } catch (e) {
    err(`barge middlebox: cannot listen on ${formatHostPort(listen)}: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
  out(`barge middlebox: listening on ${formatHostPort(box.address)}, upstream ${formatHostPort(upstream)}, mode ${mode}`);
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
