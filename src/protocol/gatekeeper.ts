/**
 * The one place that checks a command's preconditions before its handler runs, always in this
 * order: TLS required (RFC 3207 4), AUTH required (RFC 4954 6), the verb offered on this listener,
 * HELO or EHLO seen (RFC 5321 4.1.4), EHLO seen (RFC 4954 4). Checks that depend on the transaction
 * (MAIL before RCPT, RCPT before DATA) belong to the handlers; BDAT is refused only after its
 * chunk is read (RFC 3030 2), so it is not gated here.
 */
import { Reply } from './replies.js';
import type { Conversation } from './session-context.js';

export const VERBS = [
  'EHLO',
  'HELO',
  'MAIL',
  'RCPT',
  'DATA',
  'BDAT',
  'RSET',
  'NOOP',
  'QUIT',
  'VRFY',
  'EXPN',
  'HELP',
  'ETRN',
  'STARTTLS',
  'AUTH',
] as const;
export type Verb = (typeof VERBS)[number];

export function isVerb(word: string): word is Verb {
  return (VERBS as readonly string[]).includes(word);
}

type Precondition = 'tls' | 'auth' | 'offered' | 'helo' | 'ehlo';
const ORDER: readonly Precondition[] = ['tls', 'auth', 'offered', 'helo', 'ehlo'];

const REQUIRES: Partial<Record<Verb, ReadonlySet<Precondition>>> = {
  MAIL: new Set(['tls', 'auth', 'helo']),
  ETRN: new Set(['tls', 'auth', 'offered', 'helo']),
  VRFY: new Set(['tls', 'auth', 'offered']),
  EXPN: new Set(['tls', 'auth', 'offered']),
  // AUTH itself is not held back by "AUTH required".
  AUTH: new Set(['tls', 'offered', 'ehlo']),
  HELP: new Set(['offered']),
};

/** Whether a verb is switched on for this listener; one that is off is refused as not implemented. */
function offered(c: Conversation, verb: Verb): boolean {
  switch (verb) {
    case 'ETRN':
      return c.o.extensions.has('ETRN');
    case 'HELP':
      return c.o.extensions.has('HELP');
    case 'VRFY':
      return c.o.vrfy === 'cannot';
    case 'EXPN':
      return c.o.expn;
    case 'AUTH':
      return c.o.auth !== 'off';
    default:
      return true;
  }
}

function refusal(c: Conversation, verb: Verb, p: Precondition): Reply | undefined {
  switch (p) {
    case 'tls':
      return c.o.tls === 'required' && !c.tls ? Reply.tlsRequired() : undefined;
    case 'auth':
      return c.o.auth === 'required' && c.user === undefined ? Reply.authRequired() : undefined;
    case 'offered':
      return offered(c, verb) ? undefined : Reply.notImplemented();
    case 'helo':
      return c.state.kind === 'fresh' ? Reply.badSequence('send HELO/EHLO first') : undefined;
    case 'ehlo':
      return c.esmtp ? undefined : Reply.badSequence('send EHLO first');
    default: {
      const never: never = p;
      return never;
    }
  }
}

/** The reply refusing `verb` now, or undefined when its handler may run. */
export function gate(c: Conversation, verb: Verb): Reply | undefined {
  const needs = REQUIRES[verb];
  if (needs === undefined) return undefined;
  for (const p of ORDER) {
    const r = needs.has(p) ? refusal(c, verb, p) : undefined;
    if (r !== undefined) return r;
  }
  return undefined;
}
