/**
 * A test driver for ServerSession that records everything the shell would see: reply text, each
 * action in order, committed messages with their bytes, discards with their reasons, ETRN requests.
 * Commits are answered at once with `committed({ id: 'X<n>' })`, or with a refusal when asked.
 */
import { ServerSession, type Answered, type ServerSessionOptions, type ReceivedMessage, type SessionAction } from './server-session.js';
import { resolveExtensions, DEFAULT_INBOUND_MASK, type ExtensionSwitches } from './extensions.js';
import { Reply } from './replies.js';

export interface Run {
  /** All reply text in order. */
  readonly text: string;
  /** Reply lines without CRLF. */
  readonly lines: string[];
  /** The last line of each reply. */
  readonly finals: string[];
  /** The code of each complete reply (its last line). */
  readonly codes: number[];
  /** "code enhanced" of each complete reply, e.g. "503 5.5.1" (just the code when there is none). */
  readonly replies: string[];
  /** Action kinds in order ("send", "begin", "body", ...), bodies merged into one entry per run. */
  readonly kinds: string[];
  readonly messages: Array<{ readonly message: ReceivedMessage; readonly body: Buffer }>;
  readonly discards: string[];
  readonly etrn: string[];
  /** What each reply that answers a command says it answers, with its code. */
  readonly answers: Array<{ readonly answered: Answered; readonly code: number }>;
  readonly closed: boolean;
  readonly session: ServerSession;
}

export type Options = Partial<ServerSessionOptions> & { readonly switches?: ExtensionSwitches; readonly mask?: number };

export function options(o: Options = {}): ServerSessionOptions {
  const { switches, mask, ...rest } = o;
  return {
    hostname: 'mx.test',
    clientIp: '192.0.2.1',
    extensions: resolveExtensions(mask ?? DEFAULT_INBOUND_MASK, switches ?? {}),
    maxMessageSize: 1_000_000,
    maxRecipients: 100,
    maxErrors: 50,
    maxHops: 50,
    maxJunkCommands: 100,
    maxRecipientOvershoot: 1000,
    postmaster: 'postmaster@mx.test',
    etrnPolicy: () => undefined,
    normaliseBareLineEndings: false,
    vrfy: 'cannot',
    expn: false,
    tls: 'off',
    auth: 'off',
    authCleartext: false,
    checkRecipient: (a) =>
      a.startsWith('nobody@')
        ? { refuse: Reply.noSuchUser() }
        : a.endsWith('@mx.test')
          ? { accept: 'local' }
          : a.endsWith('@relay.test')
            ? { accept: 'relay' }
            : { refuse: Reply.relayDenied() },
    ...rest,
  };
}

/**
 * Feeds `pieces` in order and performs the actions. `refuseCommits` lists 1-based commit numbers to
 * answer with 452 4.3.1 instead of an id.
 */
export function run(pieces: readonly Buffer[], o: Options = {}, refuseCommits: readonly number[] = []): Run {
  const session = new ServerSession(options(o));
  let text = '';
  const kinds: string[] = [];
  const messages: Array<{ message: ReceivedMessage; body: Buffer }> = [];
  const discards: string[] = [];
  const etrn: string[] = [];
  const answers: Array<{ answered: Answered; code: number }> = [];
  let body: Buffer[] = [];
  let open = false;
  let commits = 0;
  let closed = false;
  const perform = (actions: readonly SessionAction[]): void => {
    for (const a of actions) {
      if (closed) throw new Error(`action ${a.kind} after close`);
      if (a.kind !== 'body' || kinds.at(-1) !== 'body') kinds.push(a.kind);
      switch (a.kind) {
        case 'send':
          text += a.text;
          if (a.answered !== undefined) answers.push({ answered: a.answered, code: a.code });
          break;
        case 'begin':
          if (open) throw new Error('begin while a message is open');
          open = true;
          body = [];
          break;
        case 'body':
          if (!open) throw new Error('body without begin');
          body.push(Buffer.from(a.bytes));
          break;
        case 'discard':
          if (!open) throw new Error('discard without begin');
          open = false;
          discards.push(a.reason ?? '');
          break;
        case 'commit': {
          if (!open) throw new Error('commit without begin');
          open = false;
          commits++;
          if (refuseCommits.includes(commits)) {
            perform(session.committed({ refuse: Reply.storageFailed() }));
          } else {
            messages.push({ message: a.message, body: Buffer.concat(body) });
            perform(session.committed({ id: `X${commits}` }));
          }
          break;
        }
        case 'etrn':
          etrn.push(a.domain);
          break;
        case 'close':
          closed = true;
          break;
      }
    }
  };
  perform(session.greet());
  for (const p of pieces) perform(session.receive(p));
  const lines = text.split('\r\n').slice(0, -1);
  const last = lines.filter((l) => /^\d{3} /.test(l));
  return {
    text,
    lines,
    finals: last,
    codes: last.map((l) => Number(l.slice(0, 3))),
    replies: last.map((l) => /^\d{3} \d\.\d{1,3}\.\d{1,3}(?= )/.exec(l)?.[0] ?? l.slice(0, 3)),
    kinds,
    messages,
    discards,
    etrn,
    answers,
    closed,
    session,
  };
}

export const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Runs `input` whole, cut in two at every offset, and one byte at a time; returns the whole run. */
export function everySplit(input: Buffer, check: (r: Run, label: string) => void, o: Options = {}): Run {
  const whole = run([input], o);
  check(whole, 'whole');
  for (let i = 1; i < input.length; i++) check(run([input.subarray(0, i), input.subarray(i)], o), `cut at ${i}`);
  check(
    run(
      [...input].map((x) => Buffer.from([x])),
      o,
    ),
    'single bytes',
  );
  return whole;
}

/** Cuts `input` at the given offsets (any order, out-of-range ignored). */
export function cut(input: Buffer, offsets: readonly number[]): Buffer[] {
  const points = [...new Set(offsets.filter((n) => n > 0 && n < input.length))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    out.push(input.subarray(from, p));
    from = p;
  }
  out.push(input.subarray(from));
  return out;
}

/** Opens a transaction with one local recipient (EHLO, MAIL, RCPT). */
export const OPEN = 'EHLO client.test\r\nMAIL FROM:<a@client.test>\r\nRCPT TO:<x@mx.test>\r\n';
