/**
 * The envelope commands of the server session: MAIL, RCPT and RSET (RFC 5321 4.1.1.2, 4.1.1.3,
 * 4.1.1.5). They move the transaction state between greeted and mail; the gatekeeper has already
 * checked TLS, AUTH and the greeting.
 */
import { domainOf, localPartOf, parsePathArgument } from './command.js';
import { type Recipient, validateMail, validateRcptParams } from './envelope.js';
import { Reply } from './replies.js';
import type { Command, Conversation } from './session-context.js';

/**
 * The reply for a MAIL/RCPT argument the parser refused, by its RFC 3463 code: X.1.7 bad sender
 * syntax, X.1.3 bad destination syntax, X.5.4 bad parameter, else X.5.2 syntax error.
 */
function pathError(e: { readonly error: string; readonly enhanced?: string }): Reply {
  switch (e.enhanced) {
    case '5.1.7':
      return Reply.badAddress(e.error);
    case '5.1.3':
      return Reply.badRecipientAddress(e.error);
    case '5.5.4':
      return Reply.badArgument(e.error);
    default:
      return Reply.syntax(e.error);
  }
}

/** Local mailboxes are folded to lower case on delivery; elsewhere only the domain is case-blind (RFC 5321 2.4). */
function sameRecipient(r: Recipient, address: string, local: boolean): boolean {
  if (local || r.local) return r.local === local && r.address.toLowerCase() === address.toLowerCase();
  return localPartOf(r.address) === localPartOf(address) && domainOf(r.address) === domainOf(address);
}

export function mail(c: Conversation, cmd: Command): void {
  const s = c.state;
  if (s.kind !== 'greeted') return c.error(Reply.badSequence('nested MAIL command'), cmd.answered);
  const path = parsePathArgument(cmd.args, 'FROM');
  if ('error' in path) return c.error(pathError(path), cmd.answered);
  const tx = validateMail(path.ok, c.o.extensions, s.esmtp, c.o.maxMessageSize, c.tls);
  if ('reply' in tx) return c.error(tx.reply, cmd.answered);
  const sender = c.o.checkSender;
  if (c.user !== undefined && sender !== undefined && !sender(c.user, tx.ok.from)) {
    return c.error(Reply.senderNotOwned(tx.ok.from), cmd.answered);
  }
  c.state = { kind: 'mail', esmtp: s.esmtp, tx: tx.ok, rcpts: [] };
  c.rcptsAccepted = 0;
  c.reply(Reply.senderOk(), cmd.answered);
}

export function rcpt(c: Conversation, cmd: Command): void {
  const s = c.state;
  if (s.kind !== 'mail') return c.error(Reply.badSequence('need MAIL before RCPT'), cmd.answered);
  const path = parsePathArgument(cmd.args, 'TO');
  if ('error' in path) return c.error(pathError(path), cmd.answered);
  const params = validateRcptParams(path.ok, c.o.extensions, s.tx.smtputf8);
  if ('reply' in params) return c.error(params.reply, cmd.answered);
  // Repeats count: a client may not RCPT the same address forever (each is answered and logged).
  if (c.rcptsAccepted >= c.o.maxRecipients) {
    // RFC 5321 4.5.3.1.8 asks for 452 (retry later), not counted as an error; a client that goes on
    // far past the limit is flooding, and Postfix's overshoot limit then counts each one as an error.
    const tooMany = Reply.tooManyRecipients(c.o.maxRecipients);
    if (++c.overshoot > c.o.maxRecipientOvershoot) return c.countError(tooMany, cmd.answered);
    return c.reply(tooMany, cmd.answered);
  }
  // RFC 5321 4.5.1: <Postmaster> without a domain must be accepted from anyone.
  const bare = domainOf(path.ok.address) === '';
  const address = bare ? c.o.postmaster : path.ok.address;
  const verdict = bare ? { accept: 'local' as const } : c.o.checkRecipient(address, c.user);
  if ('refuse' in verdict) return c.error(verdict.refuse, cmd.answered);
  const local = verdict.accept === 'local';
  // A repeated recipient is answered 250 but delivered once, as Postfix and Exim do.
  if (!s.rcpts.some((r) => sameRecipient(r, address, local))) s.rcpts.push({ address, local, ...params.ok });
  c.rcptsAccepted++;
  c.reply(Reply.recipientOk(), cmd.answered);
}

export function rset(c: Conversation, cmd: Command): void {
  if (cmd.args.trim() !== '') return c.error(Reply.badArgument('RSET takes no argument'), cmd.answered);
  c.abandon();
  c.reply(Reply.reset(), cmd.answered);
}
