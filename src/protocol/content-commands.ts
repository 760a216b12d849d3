/**
 * The content commands of the server session: DATA (RFC 5321 4.1.1.4) and BDAT (RFC 3030 2), and
 * the reading of the body they announce. Bytes announced by BDAT are counted, never parsed, and
 * consumed exactly even when the BDAT is refused. Hops are counted in the header section (RFC 5321
 * 6.3). At the end of a message the session asks the shell to commit it and waits for the answer.
 */
import { parseBdatArgs } from './command.js';
import { DataReader } from './data-reader.js';
import type { Transaction } from './envelope.js';
import { HopCounter } from './hop-count.js';
import { Reply } from './replies.js';
import type { BodyState, ChunkMode, Command, Conversation } from './session-context.js';
import type { Answered, TransferMethod } from './session-types.js';

function startBody(c: Conversation, esmtp: boolean, tx: Transaction, method: TransferMethod): void {
  c.state = { kind: 'body', esmtp, tx, method, size: 0, chunks: 0, overflow: false, hops: new HopCounter() };
  c.emit({ kind: 'begin', transaction: tx, method });
}

export function data(c: Conversation, cmd: Command): void {
  const s = c.state;
  if (s.kind !== 'mail') {
    return c.error(Reply.badSequence(s.kind === 'body' ? 'DATA and BDAT cannot be mixed' : 'need MAIL and RCPT before DATA'), cmd.answered);
  }
  if (cmd.args !== '') return c.error(Reply.badArgument('DATA takes no argument'), cmd.answered);
  if (s.rcpts.length === 0) return c.error(Reply.noValidRecipients(), cmd.answered);
  if (s.tx.body === 'BINARYMIME') return c.error(Reply.badSequence('BODY=BINARYMIME requires BDAT (RFC 3030 3)'), cmd.answered);
  startBody(c, s.esmtp, { ...s.tx, rcpts: s.rcpts }, 'DATA');
  c.mode = { kind: 'data', reader: new DataReader({ normaliseBareLineEndings: c.o.normaliseBareLineEndings }) };
  c.reply(Reply.startData());
}

/** Why a well-formed BDAT is refused (its chunk is still read), or undefined to accept it. */
function bdatRefusal(c: Conversation): Reply | undefined {
  const s = c.state;
  if (!(c.esmtp && c.o.extensions.has('CHUNKING'))) return Reply.unknownCommand();
  switch (s.kind) {
    case 'fresh':
    case 'greeted':
      return Reply.badSequence('need MAIL and RCPT before BDAT');
    case 'mail':
      return s.rcpts.length === 0 ? Reply.noValidRecipients() : undefined;
    case 'body':
      return s.method === 'DATA' ? Reply.badSequence('DATA and BDAT cannot be mixed') : undefined;
    default: {
      const never: never = s;
      return never;
    }
  }
}

export function bdat(c: Conversation, cmd: Command): void {
  const parsed = parseBdatArgs(cmd.args);
  if (parsed === undefined) {
    // Without a valid size the chunk cannot be located; nothing is consumed.
    const enabled = c.esmtp && c.o.extensions.has('CHUNKING');
    return c.error(enabled ? Reply.badArgument('BDAT <size> [LAST]') : Reply.unknownCommand(), cmd.answered);
  }
  const refusal = bdatRefusal(c);
  const s = c.state;
  if (refusal === undefined && s.kind === 'mail') startBody(c, s.esmtp, { ...s.tx, rcpts: s.rcpts }, 'BDAT');
  const body = c.state;
  if (refusal === undefined && body.kind === 'body') {
    body.chunks++;
    if (!body.overflow && body.size + parsed.size > c.o.maxMessageSize) {
      body.overflow = true;
      c.emit({ kind: 'discard', reason: 'message size limit exceeded' });
    }
    body.size += parsed.size;
  }
  const mode: ChunkMode = { kind: 'chunk', remaining: parsed.size, last: parsed.last, size: parsed.size, refusal, args: cmd.args };
  c.mode = mode;
  if (parsed.size === 0) endChunk(c, mode);
}

export function readChunk(c: Conversation, mode: ChunkMode, buf: Buffer, pos: number): number {
  const take = Math.min(mode.remaining, buf.length - pos);
  const s = c.state;
  const bytes = buf.subarray(pos, pos + take);
  if (mode.refusal === undefined && s.kind === 'body' && !s.overflow && hopsWithinLimit(c, s, bytes)) c.emit({ kind: 'body', bytes });
  mode.remaining -= take;
  if (mode.remaining === 0) endChunk(c, mode);
  return pos + take;
}

function endChunk(c: Conversation, mode: ChunkMode): void {
  c.mode = { kind: 'command' };
  const answered: Answered = { kind: 'command', verb: 'BDAT', args: mode.args };
  if (mode.refusal !== undefined) return c.error(mode.refusal, answered);
  const s = c.state;
  if (s.kind !== 'body') return;
  if (s.overflow) {
    // RFC 3030 2: after a failed chunk the transaction is over; later chunks get 503.
    c.endTransaction(s);
    return c.reply(Reply.sizeExceeded(c.o.maxMessageSize), answered);
  }
  if (!mode.last) return c.reply(Reply.chunkOk(mode.size), answered);
  const end: Answered = { kind: 'message', method: 'BDAT', args: mode.args };
  if (tooManyHops(c, s)) {
    c.endTransaction(s);
    return c.reply(Reply.tooManyHops(s.hops.count + 1, c.o.maxHops), end);
  }
  // The 250 is sent when the shell answers; it is reported against this BDAT.
  c.waiting = { kind: 'commit', args: mode.args };
  c.emit({ kind: 'commit', message: { transaction: s.tx, method: 'BDAT', chunks: s.chunks, size: s.size } });
}

export function readData(c: Conversation, reader: DataReader, buf: Buffer, pos: number): number {
  const s = c.state;
  const fed = reader.feed(buf, pos);
  if (s.kind !== 'body') return pos + fed.consumed;
  for (const bytes of fed.body) {
    s.size += bytes.length;
    if (!s.overflow && s.size > c.o.maxMessageSize) {
      s.overflow = true;
      c.emit({ kind: 'discard', reason: 'message size limit exceeded' });
    }
    if (!s.overflow && reader.violation === undefined && hopsWithinLimit(c, s, bytes)) c.emit({ kind: 'body', bytes });
  }
  if (fed.done) endData(c, s, reader);
  return pos + fed.consumed;
}

function endData(c: Conversation, s: BodyState, reader: DataReader): void {
  c.mode = { kind: 'command' };
  if (s.overflow || reader.violation !== undefined || tooManyHops(c, s)) {
    c.endTransaction(s);
    if (!s.overflow && reader.violation !== undefined) c.emit({ kind: 'discard', reason: reader.violation });
    const r = s.overflow
      ? Reply.sizeExceeded(c.o.maxMessageSize)
      : reader.violation === 'line-too-long'
        ? Reply.lineTooLong()
        : reader.violation === 'bare-line-ending'
          ? Reply.bareLineEnding()
          : Reply.tooManyHops(s.hops.count + 1, c.o.maxHops);
    return c.reply(r, { kind: 'message', method: 'DATA', args: '' });
  }
  c.waiting = { kind: 'commit', args: '' };
  c.emit({ kind: 'commit', message: { transaction: s.tx, method: 'DATA', chunks: 0, size: s.size } });
}

/**
 * Counts hops in the header section (RFC 5321 6.3). The message is discarded as soon as it has too
 * many, but the rest of its body is still read, and refused at its end, so the session stays in step.
 */
function hopsWithinLimit(c: Conversation, s: BodyState, bytes: Buffer): boolean {
  if (s.hops.done) return !tooManyHops(c, s);
  const before = tooManyHops(c, s);
  s.hops.feed(bytes);
  const after = tooManyHops(c, s);
  if (after && !before) {
    c.emit({ kind: 'discard', reason: `too many hops: ${s.hops.count + 1} Received: fields (at most ${c.o.maxHops}); mail loop?` });
  }
  return !after;
}

/** The shell's own Received: field counts too. */
function tooManyHops(c: Conversation, s: BodyState): boolean {
  return s.hops.count + 1 > c.o.maxHops;
}
