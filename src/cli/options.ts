/**
 * `barge options decode|encode`: the IIS command-support masks, so an administrator can move a
 * value from the classic service (7697601, 4551873, 7, 5) to Barge and back.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_INBOUND_MASK, DEFAULT_OUTBOUND_MASK, decodeMask, encodeMask } from '../protocol/extensions.js';

const USAGE = `usage: barge options decode VALUE [--outbound]
       barge options encode [--base N] [--with A,B] [--without A,B] [--outbound]
  inbound bits: DSN ETRN TURN ENHANCEDSTATUSCODES CHUNKING BINARYMIME 8BITMIME (default ${DEFAULT_INBOUND_MASK})
  outbound bits: BDAT (default ${DEFAULT_OUTBOUND_MASK}; ${DEFAULT_OUTBOUND_MASK} without BDAT is 5)`;

const hex = (n: number): string => `0x${n.toString(16)}`;

function parseMask(text: string | undefined, what: string): number {
  const n = text === undefined ? Number.NaN : Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff)
    throw new UsageError(`${what}: expected an integer from 0 to 4294967295, got ${JSON.stringify(text ?? '')}`);
  return n;
}

class UsageError extends Error {}

export function runOptions(args: string[], out: (line: string) => void, err: (line: string) => void): number {
  try {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        outbound: { type: 'boolean', default: false },
        base: { type: 'string' },
        with: { type: 'string', default: '' },
        without: { type: 'string', default: '' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    const [sub, value, extra] = positionals;
    if (values.help === true) {
      out(USAGE);
      return 0;
    }
    if (extra !== undefined) throw new UsageError(`unexpected argument ${extra}`);
    const outbound = values.outbound;
    const direction = outbound ? 'outbound' : 'inbound';
    switch (sub) {
      case 'decode': {
        const mask = parseMask(value, 'VALUE');
        const d = decodeMask(mask, outbound);
        out(`${mask} (${hex(mask)}) ${direction}`);
        out(`  enabled:  ${d.enabled.join(' ') || '(none)'}`);
        out(`  disabled: ${d.disabled.join(' ') || '(none)'}`);
        out(`  unknown bits: ${d.unknownBits === 0 ? 'none' : `${d.unknownBits} (${hex(d.unknownBits)}), kept and ignored`}`);
        return 0;
      }
      case 'encode': {
        if (value !== undefined) throw new UsageError(`unexpected argument ${value}`);
        const base =
          values.base === undefined ? (outbound ? DEFAULT_OUTBOUND_MASK : DEFAULT_INBOUND_MASK) : parseMask(values.base, '--base');
        const list = (s: string): string[] =>
          s
            .split(',')
            .map((v) => v.trim())
            .filter((v) => v !== '');
        try {
          out(String(encodeMask(base, list(values.with), list(values.without), outbound)));
        } catch (e) {
          throw new UsageError(e instanceof Error ? e.message : String(e));
        }
        return 0;
      }
      default:
        throw new UsageError(sub === undefined ? 'missing subcommand' : `unknown subcommand ${sub}`);
    }
  } catch (e) {
    if (e instanceof UsageError || (e instanceof TypeError && 'code' in e)) {
      err(`barge options: ${e.message}`);
      err(USAGE);
      return 2;
    }
    throw e;
  }
}
