/**
 * The W3C log's fields as the classic Windows SMTP service names and numbers them: the 21 fields in
 * IIS order with their `LogExtFileFlags` bits, and the conversions between a list of names and a mask.
 */

/** The 21 W3C fields in IIS order, with their `LogExtFileFlags` bits. */
export const W3C_FIELDS = [
  ['date', 0x1],
  ['time', 0x2],
  ['c-ip', 0x4],
  ['cs-username', 0x8],
  ['s-sitename', 0x10],
  ['s-computername', 0x20],
  ['s-ip', 0x40],
  ['cs-method', 0x80],
  ['cs-uri-stem', 0x100],
  ['cs-uri-query', 0x200],
  ['sc-status', 0x400],
  ['sc-win32-status', 0x800],
  ['sc-bytes', 0x1000],
  ['cs-bytes', 0x2000],
  ['time-taken', 0x4000],
  ['s-port', 0x8000],
  ['cs(User-Agent)', 0x10000],
  ['cs(Cookie)', 0x20000],
  ['cs(Referer)', 0x40000],
  ['cs-version', 0x80000],
  ['cs-host', 0x100000],
] as const;

export type W3cField = (typeof W3C_FIELDS)[number][0];

/** Name -> bit, for lookups. */
export const W3C_FIELD_FLAGS: ReadonlyMap<string, number> = new Map(W3C_FIELDS);

export const DEFAULT_W3C_FIELDS: readonly string[] = ['time', 'c-ip', 'cs-method', 'cs-uri-stem', 'sc-status'];
/** 0x586, the IIS default `LogExtFileFlags` for SMTP. */
export const DEFAULT_W3C_FLAGS = 0x586;

/** The fields whose bits are set, in IIS order. Unknown bits are ignored (IIS ignores them too). */
export function fieldsFromFlags(flags: number): string[] {
  // `>>> 0` keeps the test unsigned should a caller pass a value with bit 31 set.
  return W3C_FIELDS.filter(([, bit]) => ((flags >>> 0) & bit) !== 0).map(([name]) => name);
}

/** The `LogExtFileFlags` value for a list of field names; throws on an unknown name. */
export function flagsFromFields(names: readonly string[]): number {
  let flags = 0;
  for (const name of parseFieldList(names)) flags |= W3C_FIELD_FLAGS.get(name) ?? 0;
  return flags;
}

/**
 * Validates field names (case-insensitively) and returns them spelled canonically, without
 * duplicates, in IIS order: IIS chose fields by bitmask, so its files could only have that order.
 */
export function parseFieldList(names: readonly string[]): string[] {
  const byLower = new Map(W3C_FIELDS.map(([name]) => [name.toLowerCase(), name]));
  const chosen = new Set<string>();
  for (const raw of names) {
    const name = byLower.get(raw.trim().toLowerCase());
    if (name === undefined) {
      const valid = W3C_FIELDS.map(([n]) => n).join(', ');
      throw new Error(`unknown W3C log field "${raw}"; valid fields are: ${valid}`);
    }
    chosen.add(name);
  }
  if (chosen.size === 0) throw new Error('the W3C log needs at least one field');
  return W3C_FIELDS.map(([name]) => name).filter((name) => chosen.has(name));
}
