/**
 * Barge's Authentication-Results field (RFC 8601 2.2), built from structured results, never from a
 * library's text: every method, result and property name is checked against the grammar, every
 * property value is written as a `value` token, an addr-spec or `@domain` (RFC 8601 2.2 pvalue), or
 * else a quoted-string with `\` and `"` escaped, and every comment has `\`, `(` and `)` escaped
 * (RFC 5322 3.2.2). So text an outsider chose (a MAIL FROM, a From domain, a DKIM tag) can never
 * end a resinfo or open one: a reader following RFC 5322 sees only the results Barge computed.
 */

/** One resinfo (RFC 8601 2.2): `method=result (comment) ptype.property=value ...`. */
export interface MethodResult {
  readonly method: string;
  readonly result: string;
  readonly comments: readonly string[];
  /** `ptype.property` and its value, in order. */
  readonly props: ReadonlyArray<readonly [string, string]>;
}

/** The result keywords of RFC 8601 2.7 (DKIM, SPF, DMARC per RFC 7489 11.2). */
const RESULTS = new Set(['none', 'pass', 'fail', 'softfail', 'neutral', 'policy', 'temperror', 'permerror']);
const KEYWORD = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;
const PROPERTY = /^(?:smtp|header|body|policy)\.[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?$/;
/** RFC 2045 5.1 token: no SPACE, CTLs or tspecials. */
const TOKEN = /^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+$/;
/** RFC 5322 3.2.3 dot-atom-text (a local-part), and a domain name of LDH labels (RFC 5321 4.1.2). */
const DOT_ATOM = "[A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~]+(?:\\.[A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~]+)*";
const DOMAIN = '[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?)*';
const ADDRESS = new RegExp(`^(?:${DOT_ATOM})?@${DOMAIN}$`);

/** Control characters (CR and LF among them) become spaces; runs of white space one space. */
function oneLine(text: string): string {
  return text
    .replace(/[\x00-\x1f\x7f]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** RFC 5322 3.2.4 quoted-string. */
export function quotedString(text: string): string {
  return `"${oneLine(text).replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** A property value: as it is when it is a token or an addr-spec / @domain, else quoted. */
export function propertyValue(text: string): string {
  const value = oneLine(text);
  return value !== '' && (TOKEN.test(value) || ADDRESS.test(value)) ? value : quotedString(value);
}

/** RFC 5322 3.2.2 comment: `(`, `)` and `\` are quoted-pairs inside, so nesting cannot be opened or closed. */
export function comment(text: string): string {
  return `(${oneLine(text).replace(/[\\()]/g, (c) => `\\${c}`)})`;
}

function resinfo(r: MethodResult): string {
  const known = RESULTS.has(r.result);
  const parts = [`${r.method.toLowerCase()}=${known ? r.result : 'permerror'}`];
  const comments = known ? r.comments : [...r.comments, `result ${r.result} not understood`];
  for (const c of comments) if (oneLine(c) !== '') parts.push(comment(c));
  for (const [name, value] of r.props)
    if (PROPERTY.test(name) && oneLine(value) !== '') parts.push(`${name.toLowerCase()}=${propertyValue(value)}`);
  return parts.join(' ');
}

/** The whole field, one resinfo per folded line (RFC 5322 2.2.3), CRLF-terminated. */
export function authResultsField(authservId: string, results: readonly MethodResult[]): string {
  const valid = results.filter((r) => KEYWORD.test(r.method));
  const lines = valid.length === 0 ? ['none'] : valid.map(resinfo);
  return `Authentication-Results: ${propertyValue(authservId)};\r\n\t${lines.join(';\r\n\t')}\r\n`;
}

/** Every method temperror, the reason in a comment on the first (the checks did not finish). */
export function temperrorResults(why: string): MethodResult[] {
  return ['spf', 'dkim', 'dmarc'].map((method, i) => ({ method, result: 'temperror', comments: i === 0 ? [why] : [], props: [] }));
}
