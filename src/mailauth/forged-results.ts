/**
 * Authentication-Results fields that claim Barge's authserv-id are removed from every incoming
 * message, whatever its ingress (RFC 8601 5: a result under our name must not reach anyone who trusts
 * it). The authserv-id is read as an RFC 5322 reader reads it: after any comments (nested, with
 * quoted-pairs) and folding white space, a token or a quoted-string (RFC 8601 2.2, RFC 2045 5.1),
 * compared without case and without a trailing dot. A field whose authserv-id cannot be read at all
 * (an unclosed comment or quote, nothing before the ';', or more than MAX_HELD octets of comments)
 * is removed too. The pass streams (header-filter.ts): the body and other fields are never held.
 */
import { HeaderFilter } from './header-filter.js';

/** How an authserv-id or a host name compares: lower case, no trailing dots. */
export function normalAuthservId(id: string): string {
  return id.trim().toLowerCase().replace(/\.+$/, '');
}

/** Skips CFWS (RFC 5322 3.2.2) from `i`; -1 when a comment is still open at the end of `text`. */
function skipCfws(text: string, i: number): number {
  let depth = 0;
  for (; i < text.length; i++) {
    const c = text[i];
    if (depth > 0) {
      if (c === '\\') i++;
      else if (c === '(') depth++;
      else if (c === ')') depth--;
    } else if (c === '(') depth = 1;
    else if (c !== ' ' && c !== '\t' && c !== '\r' && c !== '\n') return i;
  }
  return depth > 0 ? -1 : i;
}

/**
 * The authserv-id of an Authentication-Results field's text (name, colon, value), as written (quotes
 * and escapes undone, case kept). Undefined while it cannot be known yet: with `complete` (the whole
 * field is in `text`), undefined means it cannot be read at all.
 */
export function authservId(fieldText: string, complete: boolean): string | undefined {
  const at = skipCfws(fieldText, fieldText.indexOf(':') + 1);
  if (at < 0 || at >= fieldText.length) return undefined;
  if (fieldText[at] === '"') {
    let value = '';
    for (let i = at + 1; i < fieldText.length; i++) {
      const c = fieldText[i];
      if (c === '"') return value;
      if (c === '\\') i++;
      value += fieldText[i] ?? '';
    }
    return undefined;
  }
  const end = /[\s();"]/.exec(fieldText.slice(at));
  if (end === null && !complete) return undefined;
  return fieldText.slice(at, end === null ? undefined : at + end.index);
}

/**
 * The filter every received message passes through on its way to the spool: it removes fields
 * naming `hostname` and measures the header section against `maxHeaderBytes`. It filters on until
 * the empty line even past a line that is no field, so no reader finds such a field higher up.
 */
export function ownResultsFilter(hostname: string, maxHeaderBytes: number): HeaderFilter {
  const own = normalAuthservId(hostname);
  return new HeaderFilter({
    maxHeaderBytes,
    afterNonField: 'filter-on',
    rule: {
      name: 'authentication-results',
      keep: (text, complete) => {
        const id = authservId(text, complete);
        if (id === undefined) return complete ? false : undefined;
        const normal = normalAuthservId(id);
        return normal !== '' && normal !== own;
      },
    },
  });
}
