/**
 * A reference reader of Authentication-Results (RFC 8601 2.2) that follows RFC 5322's lexical rules
 * strictly: comments nest and end only at an unescaped ')' (3.2.2), quoted-strings end only at an
 * unescaped '"' (3.2.4), and ';' separates resinfos only outside both. A comment still open at the
 * end of the field runs to its end (and `closed` is false). Written apart from Barge's builder so that
 * a test reads the field as a careful reader would.
 */
import assert from 'node:assert/strict';

export interface ReadResinfo {
  readonly method: string;
  readonly result: string;
  readonly props: ReadonlyMap<string, string>;
}

export interface ReadField {
  /** False when a comment was still open at the end. */
  readonly closed: boolean;
  readonly authservId: string;
  readonly results: readonly ReadResinfo[];
}

type Item = { readonly kind: 'word' | 'string'; readonly text: string } | { readonly kind: ';' | '=' };

function lex(value: string): { items: Item[]; closed: boolean } {
  const items: Item[] = [];
  let closed = true;
  let i = 0;
  while (i < value.length) {
    const c = value[i] ?? '';
    if (/\s/.test(c)) i++;
    else if (c === '(') {
      let depth = 0;
      for (; i < value.length; i++) {
        const d = value[i];
        if (d === '\\') i++;
        else if (d === '(') depth++;
        else if (d === ')' && --depth === 0) break;
      }
      if (depth > 0) closed = false;
      i++;
    } else if (c === '"') {
      let text = '';
      for (i++; i < value.length && value[i] !== '"'; i++) text += value[value[i] === '\\' ? ++i : i] ?? '';
      if (i >= value.length) throw new Error('quoted-string not closed');
      i++;
      items.push({ kind: 'string', text });
    } else if (c === ';' || c === '=') {
      items.push({ kind: c });
      i++;
    } else if (c === ')') throw new Error(`unbalanced ')' at ${i}`);
    else {
      const word = /^[^\s()";=]+/.exec(value.slice(i))?.[0] ?? c;
      items.push({ kind: 'word', text: word });
      i += word.length;
    }
  }
  return { items, closed };
}

const textOf = (item: Item | undefined): string =>
  item !== undefined && (item.kind === 'word' || item.kind === 'string') ? item.text : '';

/** Reads one field (with or without its name); throws where the grammar is broken. */
export function readAuthResults(field: string): ReadField {
  const value = field.replace(/^Authentication-Results\s*:/i, '');
  const groups: Item[][] = [[]];
  const { items, closed } = lex(value);
  for (const item of items) {
    if (item.kind === ';') groups.push([]);
    else groups[groups.length - 1]?.push(item);
  }
  const [head = [], ...rest] = groups;
  const results = rest
    .filter((g) => g.length > 0 && !(g.length === 1 && textOf(g[0]) === 'none'))
    .map((g): ReadResinfo => {
      if (g[1]?.kind !== '=') throw new Error(`resinfo without method=result: ${JSON.stringify(g)}`);
      const props = new Map<string, string>();
      for (let i = 3; i < g.length; i += 3) {
        if (g[i + 1]?.kind !== '=') throw new Error(`property without '=': ${JSON.stringify(g.slice(i))}`);
        props.set(textOf(g[i]).toLowerCase(), textOf(g[i + 2]));
      }
      return { method: textOf(g[0]).toLowerCase(), result: textOf(g[2]).toLowerCase(), props };
    });
  return { closed, authservId: textOf(head[0]), results };
}

/** The Authentication-Results fields of a message's header section, each with its folded lines. */
export function authResultsFields(message: string): string[] {
  const header = message.slice(0, message.indexOf('\r\n\r\n') + 2);
  return header.match(/^Authentication-Results[ \t]*:.*\r\n(?:[ \t].*\r\n)*/gim) ?? [];
}

/**
 * Asserts that a careful reader of `field` sees Barge's authserv-id, exactly the `expected` results
 * (`method=result`, in order), the whole `mailFrom` as the SPF result's smtp.mailfrom, and no header.d
 * (which only a forged DKIM result would carry here).
 */
export function assertOnlyComputed(field: string, expected: readonly string[], mailFrom: string): void {
  const read = readAuthResults(field);
  assert.ok(read.closed, field);
  assert.equal(read.authservId, 'barge.test');
  assert.deepEqual(
    read.results.map((r) => `${r.method}=${r.result}`),
    expected,
    field,
  );
  assert.equal(read.results.find((r) => r.props.has('smtp.mailfrom'))?.props.get('smtp.mailfrom'), mailFrom, field);
  assert.ok(!read.results.some((r) => r.props.has('header.d')), field);
}
