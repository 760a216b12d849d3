/**
 * The EHLO reply as the sending side reads it (RFC 5321 4.1.1.1): the first line greets, each
 * further line is a keyword and its parameters. One rule decides whether a keyword was masked by an
 * ESMTP-inspecting device, so delivery's fallback and `barge probe` always agree. Pure.
 */

/** Keywords (upper case; RFC 5321 2.4: case-insensitive) and their parameters, from the reply's text lines. */
export function parseEhloKeywords(lines: readonly string[]): Map<string, string> {
  const keywords = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const [keyword = '', ...params] = line.trim().split(/\s+/);
    if (keyword !== '') keywords.set(keyword.toUpperCase(), params.join(' '));
  }
  return keywords;
}

/** The keyword lines back from a parsed map ("SIZE 1000", "CHUNKING"). */
export function keywordLines(keywords: ReadonlyMap<string, string>): string[] {
  return [...keywords].map(([k, params]) => (params === '' ? k : `${k} ${params}`));
}

/**
 * Cisco-style ESMTP inspection overwrites keywords it does not allow with X's, keeping the length
 * and sometimes the last letter (CHUNKING -> XXXXXXXA); others overwrite with stars ("SI** 1000",
 * "****"). Real extensions starting with X (XCLIENT, XEXCH50, X-LINK2STATE) are not masked.
 */
export function isMaskedKeyword(line: string): boolean {
  const keyword = line.trim().split(/\s+/)[0] ?? '';
  return /^X{2,}[A-Z]?$/i.test(keyword) || line.includes('*');
}

/** The masked keyword lines, each once. */
export function maskedKeywords(lines: readonly string[]): string[] {
  return [...new Set(lines.filter(isMaskedKeyword))];
}
