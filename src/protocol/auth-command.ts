/**
 * AUTH in the server session (RFC 4954): checks that it may start, then runs the SASL exchange
 * (sasl.ts) line by line. The decoded credentials go to the shell as an `auth` action, and input is
 * held until it answers. Replies report only the mechanism, never a line of the exchange.
 */
import { offersAuth } from './advertisement.js';
import { Reply } from './replies.js';
import { SaslExchange, type SaslStep, isSaslMechanism } from './sasl.js';
import type { Command, Conversation } from './session-context.js';

export function auth(c: Conversation, cmd: Command): void {
  const [mechanism = '', initial, extra] = cmd.args.split(' ');
  if (!offersAuth(c.o, c.tls)) return c.error(Reply.authNeedsEncryption(), cmd.answered);
  if (c.user !== undefined) return c.error(Reply.badSequence('already authenticated'), cmd.answered);
  if (c.state.kind !== 'greeted') return c.error(Reply.badSequence('AUTH is not allowed during a mail transaction'), cmd.answered);
  const name = mechanism.toUpperCase();
  if (!isSaslMechanism(name) || extra !== undefined) return c.error(Reply.authMechanism(), cmd.answered);
  const exchange = new SaslExchange(name);
  saslStep(c, exchange, exchange.start(initial));
}

/** A line the client sent in answer to a 334 challenge. */
export function saslLine(c: Conversation, exchange: SaslExchange, line: string): void {
  saslStep(c, exchange, exchange.respond(line.trim()));
}

function saslStep(c: Conversation, exchange: SaslExchange, step: SaslStep): void {
  c.sasl = undefined;
  if ('challenge' in step) {
    c.sasl = exchange;
    c.reply(Reply.authChallenge(step.challenge));
  } else if ('refuse' in step) {
    c.error(step.refuse, { kind: 'auth', mechanism: exchange.mechanism });
  } else {
    c.waiting = { kind: 'auth' };
    c.emit({ kind: 'auth', mechanism: exchange.mechanism, ...step.credentials });
  }
}
