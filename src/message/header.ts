/**
 * The header section of a message (RFC 5322 2.2): where it ends, and its fields with their folded
 * lines kept together. Pure functions over bytes (latin1 strings keep every octet as one character).
 */

export interface HeaderField {
  /** Lower-case field name. */
  readonly name: string;
  /** The whole field as it appears, including its name and folded lines, without the final CRLF. */
  readonly raw: string;
}

/** Splits a header block (without the blank line) into fields, continuation lines kept with theirs. */
export function parseHeaderBlock(block: string): HeaderField[] {
  const fields: HeaderField[] = [];
  for (const line of block.split(/\r?\n/)) {
    const last = fields[fields.length - 1];
    if ((line.startsWith(' ') || line.startsWith('\t')) && last !== undefined) {
      fields[fields.length - 1] = { name: last.name, raw: `${last.raw}\r\n${line}` };
    } else if (line.includes(':')) {
      fields.push({ name: line.slice(0, line.indexOf(':')).trim().toLowerCase(), raw: line });
    }
  }
  return fields;
}

/** Where the header block ends: the offset of the blank line's CRLF (or LF), or -1 if not seen yet. */
export function headerEnd(bytes: Buffer): { readonly headerLength: number; readonly bodyStart: number } | undefined {
  const crlf = bytes.indexOf('\r\n\r\n');
  const lf = bytes.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { headerLength: crlf, bodyStart: crlf + 4 };
  if (lf >= 0) return { headerLength: lf, bodyStart: lf + 2 };
  return undefined;
}

/** A field's value unfolded (RFC 5322 2.2.3: each CRLF before WSP removed), without its name. */
export function fieldValue(field: HeaderField): string {
  return field.raw.slice(field.raw.indexOf(':') + 1).replace(/\r?\n(?=[ \t])/g, '');
}

/** The fields of the header section at the start of `bytes` (all of `bytes` when no blank line ends it). */
export function headerFields(bytes: Buffer): HeaderField[] {
  const end = headerEnd(bytes);
  return parseHeaderBlock(bytes.subarray(0, end?.headerLength ?? bytes.length).toString('latin1'));
}
