/**
 * The ESMTP extension registry and the IIS-compatible command-support bitmasks.
 *
 * Inbound: which service extensions a listener advertises (and so accepts). Administrators of the
 * classic Windows SMTP service know them as `SmtpInboundCommandSupportOptions` (default 7697601);
 * unknown bits are preserved on round trip and have no effect. SIZE, PIPELINING, SMTPUTF8, HELP, VRFY,
 * EXPN, STARTTLS and AUTH are not in that mask; they have named switches only.
 * Outbound: `SmtpOutboundCommandSupportOptions` (default 7); bit 0x2 = send BDAT when the peer offers CHUNKING.
 */

/** Extensions with a bit in the IIS inbound mask, with their values. */
export const INBOUND_BITS = {
  DSN: 0x40,
  ETRN: 0x80,
  TURN: 0x400,
  ENHANCEDSTATUSCODES: 0x1000,
  CHUNKING: 0x100000,
  BINARYMIME: 0x200000,
  '8BITMIME': 0x400000,
} as const;
export type MaskedExtension = keyof typeof INBOUND_BITS;

export const DEFAULT_INBOUND_MASK = 7697601;

/** Outbound bits. Only BDAT has a meaning to Barge; the others are kept as set. */
export const OUTBOUND_BITS = { BDAT: 0x2 } as const;
export const DEFAULT_OUTBOUND_MASK = 7;

/** Every extension a Barge listener can advertise, in advertisement order. */
export const EXTENSIONS = [
  'PIPELINING',
  'SIZE',
  '8BITMIME',
  'BINARYMIME',
  'CHUNKING',
  'DSN',
  'ENHANCEDSTATUSCODES',
  'SMTPUTF8',
  'ETRN',
  'HELP',
] as const;
export type Extension = (typeof EXTENSIONS)[number];

export interface MaskDecoding {
  /** Known verbs whose bit is set. */
  readonly enabled: readonly string[];
  /** Known verbs whose bit is clear. */
  readonly disabled: readonly string[];
  /** Bits set in the value that Barge does not know (kept, no effect). */
  readonly unknownBits: number;
}

function bitsOf(outbound: boolean): Readonly<Record<string, number>> {
  return outbound ? OUTBOUND_BITS : INBOUND_BITS;
}

export function decodeMask(value: number, outbound = false): MaskDecoding {
  const bits = bitsOf(outbound);
  const enabled: string[] = [];
  const disabled: string[] = [];
  let known = 0;
  for (const [name, bit] of Object.entries(bits)) {
    known |= bit;
    ((value & bit) !== 0 ? enabled : disabled).push(name);
  }
  // Bitwise operators work on signed 32 bits; the masks are unsigned (a DWORD may have its top bit set).
  return { enabled, disabled, unknownBits: (value & ~known) >>> 0 };
}

/** Starts from `base`, clears the bits of `without` and sets those of `withVerbs`. Throws on an unknown name. */
export function encodeMask(base: number, withVerbs: readonly string[], without: readonly string[], outbound = false): number {
  const bits = bitsOf(outbound);
  const bitOf = (name: string): number => {
    const bit = bits[name.toUpperCase()];
    if (bit === undefined) {
      throw new Error(`unknown ${outbound ? 'outbound' : 'inbound'} verb ${name}; known: ${Object.keys(bits).join(', ')}`);
    }
    return bit;
  };
  let value = base;
  for (const name of without) value &= ~bitOf(name);
  for (const name of withVerbs) value |= bitOf(name);
  // Bitwise operators work on signed 32 bits; the masks are unsigned.
  return value >>> 0;
}

/** Named per-listener switches; `undefined` means "as the mask says" (or on, for unmasked extensions). */
export type ExtensionSwitches = Partial<Record<Lowercase<Extension>, boolean>>;

/**
 * Resolves the set of extensions a listener advertises: the mask first, then named switches override it.
 * BINARYMIME is only meaningful with CHUNKING (RFC 3030 3), so it is dropped when CHUNKING is off.
 */
export function resolveExtensions(mask: number, switches: ExtensionSwitches): ReadonlySet<Extension> {
  const on = new Set<Extension>();
  for (const ext of EXTENSIONS) {
    const bit = (INBOUND_BITS as Record<string, number | undefined>)[ext];
    const byMask = bit === undefined ? true : (mask & bit) !== 0;
    const named = switches[ext.toLowerCase() as Lowercase<Extension>];
    if (named ?? byMask) on.add(ext);
  }
  if (!on.has('CHUNKING')) on.delete('BINARYMIME');
  return on;
}

/** Whether the outbound mask allows BDAT (bit 0x2). */
export function outboundAllowsBdat(mask: number): boolean {
  return (mask & OUTBOUND_BITS.BDAT) !== 0;
}
