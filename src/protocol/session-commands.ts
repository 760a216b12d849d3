/**
 * The session commands of the server session: HELO and EHLO (RFC 5321 4.1.1.1), STARTTLS (RFC 3207),
 * QUIT, NOOP, HELP, VRFY and EXPN (RFC 5321 4.1.1.6-10) and ETRN (RFC 1985). None of them moves
 * mail; the gatekeeper has already checked TLS, AUTH, whether the verb is offered and the greeting.
 */
import { ehloReply, offersStartTls } from './advertisement.js';
import { Reply } from './replies.js';
import type { Command, Conversation } from './session-context.js';

export function hello(c: Conversation, cmd: Command): void {
  const name = cmd.args.trim();
  if (name === '') return c.error(Reply.badArgument(`${cmd.verb} requires a domain or address literal`), cmd.answered);
  c.abandon();
  c.helo = name.split(' ')[0] ?? '';
  const esmtp = cmd.verb === 'EHLO';
  c.state = { kind: 'greeted', esmtp };
  c.reply(esmtp ? ehloReply(c.o, c.tls, c.helo) : Reply.ok(`${c.o.hostname} Hello ${c.helo} [${c.o.clientIp}]`), cmd.answered);
}

export function quit(c: Conversation, cmd: Command): void {
  c.close(Reply.bye(), cmd.answered);
}

export function noop(c: Conversation, cmd: Command): void {
  c.reply(Reply.ok(), cmd.answered);
}

export function help(c: Conversation, cmd: Command): void {
  c.reply(Reply.help(), cmd.answered);
}

/** VRFY and EXPN, when switched on, never disclose a mailbox (RFC 5321 3.5.3: 252). */
export function verify(c: Conversation, cmd: Command): void {
  if (cmd.args.trim() === '') return c.error(Reply.badArgument(`${cmd.verb} requires an argument`), cmd.answered);
  c.reply(Reply.vrfyCannot(), cmd.answered);
}

export function etrn(c: Conversation, cmd: Command): void {
  if (c.state.kind !== 'greeted') return c.error(Reply.badSequence('ETRN is not allowed during a mail transaction'), cmd.answered);
  // RFC 1985 5: "domain", "@domain" (and subdomains) or "#queue".
  const node = cmd.args.trim();
  if (!/^[@#]?[A-Za-z0-9.-]+$/.test(node)) return c.error(Reply.badArgument('ETRN <domain>'), cmd.answered);
  const refusal = c.o.etrnPolicy(node.toLowerCase(), c.user);
  if (refusal !== undefined) return c.error(refusal, cmd.answered);
  c.reply(Reply.etrnStarted(node), cmd.answered);
  c.emit({ kind: 'etrn', domain: node.toLowerCase() });
}

/**
 * RFC 3207 4: after the 220 nothing more is read until the shell reports the handshake; bytes the
 * client pipelined after STARTTLS arrived in clear text and are dropped (CVE-2011-0411).
 */
export function starttls(c: Conversation, cmd: Command): void {
  if (!offersStartTls(c.o, c.tls)) {
    return c.error(c.tls ? Reply.badSequence('TLS is already active') : Reply.unknownCommand(), cmd.answered);
  }
  if (cmd.args !== '') return c.error(Reply.syntax('STARTTLS takes no argument'), cmd.answered);
  c.abandon();
  c.reply(Reply.tlsReady(), cmd.answered);
  c.emit({ kind: 'starttls' });
  c.tlsPending = true;
}
