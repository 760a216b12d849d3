/**
 * One mail transaction to a peer that has greeted us: MAIL and RCPT (pipelined when offered,
 * RFC 2920), then the content by BDAT (RFC 3030) when the peer offers CHUNKING and the outbound
 * options allow it, otherwise by DATA with dot-stuffing. Content streams from the spool with
 * backpressure; BDAT content is never stuffed. Every recipient gets an outcome.
 */
import type { BodyType, Recipient } from '../protocol/envelope.js';
import { encodeXtext } from '../protocol/command.js';
import { DotStuffer } from '../protocol/dot-stuffer.js';
import { downconvert } from './downconvert.js';
import { replyText, type PeerReply } from '../protocol/reply-parser.js';
import type { ClientConnection } from './connection.js';
import type { PeerCapabilities } from '../protocol/client-types.js';
import { sendBdatOrExplain, type BdatPlan, type BdatResult } from './bdat.js';
import type { ChunkVerdict } from './bdat-health.js';
export { BdatPathFailure } from './bdat.js';

export type { PeerCapabilities };
import type { OutboundMessage, RecipientOutcome } from './delivery-result.js';
export type { OutboundMessage, RecipientOutcome };
import { firstWord } from './loop.js';

export interface TransferOptions {
  /** Outbound options allow BDAT (mask bit 0x2 and `chunking = "auto"`). */
  readonly allowBdat: boolean;
  readonly allowPipelining: boolean;
  readonly allowBinarymime: boolean;
  readonly chunkSize: number;
}

type OutcomeKind = RecipientOutcome['kind'];

export interface TransferResult {
  readonly method: 'DATA' | 'BDAT';
  readonly chunks: number;
  /** How a check chunk was answered, when the transfer began with one (BDAT on a path of unknown health). */
  readonly check?: { readonly verdict: ChunkVerdict; readonly ms: number };
  /** Answer times of the non-final BDAT chunks, for adaptive chunking (empty for DATA). */
  readonly nonFinalMs: readonly number[];
  /** Set when the content was downconverted for this peer: what and why. */
  readonly converted?: string;
  readonly outcomes: readonly RecipientOutcome[];
}

export async function greet(conn: ClientConnection, heloName: string): Promise<PeerCapabilities> {
  const greeting = await conn.reply('greeting');
  if (greeting.code !== 220) throw new PeerRefused('greeting', greeting);
  return hello(conn, heloName, greeting.lines.join(' '));
}

/** EHLO, or HELO when EHLO is refused; after STARTTLS it is sent again (RFC 3207 4.2). */
export async function hello(conn: ClientConnection, heloName: string, greeting = ''): Promise<PeerCapabilities> {
  const ehlo = await conn.command(`EHLO ${heloName}`, 'EHLO');
  if (ehlo.code === 250) {
    const keywords = new Map<string, string>();
    for (const line of ehlo.lines.slice(1)) {
      const [keyword = '', ...params] = line.trim().split(/\s+/);
      keywords.set(keyword.toUpperCase(), params.join(' '));
    }
    return { esmtp: true, keywords, greeting, name: firstWord(ehlo.lines[0] ?? '') };
  }
  // RFC 5321 3.2: a server that does not know EHLO answers 5xx; fall back to HELO.
  if (ehlo.code >= 500) {
    const helo = await conn.command(`HELO ${heloName}`, 'HELO');
    if (helo.code === 250) return { esmtp: false, keywords: new Map(), greeting, name: firstWord(helo.lines[0] ?? '') };
    throw new PeerRefused('HELO', helo);
  }
  throw new PeerRefused('EHLO', ehlo);
}

/** A reply that ends the session before any transaction (greeting, EHLO, HELO). */
export class PeerRefused extends Error {
  readonly stage: string;
  readonly reply: PeerReply;
  constructor(stage: string, reply: PeerReply) {
    super(`${stage}: ${replyText(reply)}`);
    this.stage = stage;
    this.reply = reply;
  }
}

const outcome = (address: string, r: PeerReply, stage: string): RecipientOutcome => ({
  address,
  kind: r.code < 300 ? 'delivered' : r.code < 500 ? 'temporary' : 'permanent',
  status: r.enhanced ?? (r.code < 300 ? '2.0.0' : r.code < 500 ? '4.0.0' : '5.0.0'),
  detail: `${stage}: ${replyText(r)}`,
});

const all = (rcpts: readonly Recipient[], kind: OutcomeKind, status: string, detail: string): RecipientOutcome[] =>
  rcpts.map((r) => ({ address: r.address, kind, status, detail }));

/** Checks that need no round trip: a message the peer cannot take is bounced, not tried. */
export function precheck(message: OutboundMessage, caps: PeerCapabilities, _options: TransferOptions): RecipientOutcome[] | undefined {
  const has = (k: string): boolean => caps.keywords.has(k);
  if (message.smtputf8 && !has('SMTPUTF8')) return all(message.rcpts, 'permanent', '5.6.7', 'peer does not offer SMTPUTF8 (RFC 6531 3.4)');
  if (message.requireTls === true && !has('REQUIRETLS')) return all(message.rcpts, 'permanent', '5.7.10', 'REQUIRETLS: the peer does not offer REQUIRETLS (RFC 8689 4.2.1)');
  const limit = Number(caps.keywords.get('SIZE') ?? '0');
  if (has('SIZE') && limit > 0 && message.size > limit) return all(message.rcpts, 'permanent', '5.3.4', `message of ${message.size} octets exceeds the peer's SIZE ${limit} (RFC 1870)`);
  return undefined;
}

/**
 * What the content must become for this peer: sent as it is, or converted to 7-bit MIME when it
 * is binary and the path cannot carry BINARYMIME over BDAT, or 8-bit and the peer lacks 8BITMIME.
 */
export function conversionFor(body: BodyType, caps: PeerCapabilities, useBdat: boolean, allowBinarymime = true): string | undefined {
  const has = (k: string): boolean => caps.keywords.has(k);
  if (body === 'BINARYMIME' && !(has('BINARYMIME') && useBdat && allowBinarymime)) return 'BINARYMIME converted to base64: the path offers no BINARYMIME over BDAT (RFC 3030 3)';
  if (body === '8BITMIME' && !has('8BITMIME')) return '8-bit content converted to base64: the peer does not offer 8BITMIME (RFC 6152 3)';
  return undefined;
}

/** `bdat` adds to the options what a BDAT transfer needs beyond them: the path check, clock and abort hook. */
export async function transfer(
  conn: ClientConnection,
  caps: PeerCapabilities,
  original: OutboundMessage,
  options: TransferOptions,
  bdat: Omit<BdatPlan, 'chunkSize' | 'pipelining'> = {},
): Promise<TransferResult> {
  const has = (k: string): boolean => caps.keywords.has(k);
  const useBdat = options.allowBdat && has('CHUNKING');
  const method = useBdat ? 'BDAT' : 'DATA';
  const refused = precheck(original, caps, options);
  if (refused !== undefined) return { method, chunks: 0, nonFinalMs: [], outcomes: refused };
  const converted = conversionFor(original.body, caps, useBdat, options.allowBinarymime);
  const pipelining = options.allowPipelining && has('PIPELINING');
  // RFC 1870 allows an estimate: base64 grows content by 4/3 plus line ends.
  const message: OutboundMessage = converted === undefined ? original : {
    ...original, body: '7BIT', size: Math.ceil(original.size * 1.4) + 1024,
    open: () => downconvert(original.open(), original.body, converted),
  };

  const mailParams: string[] = [];
  if (has('SIZE')) mailParams.push(`SIZE=${message.size}`);
  if (has('8BITMIME') && message.body !== '7BIT') mailParams.push(`BODY=${message.body}`);
  if (message.smtputf8) mailParams.push('SMTPUTF8');
  if (message.requireTls === true) mailParams.push('REQUIRETLS');
  const dsn = has('DSN');
  if (dsn && message.ret !== undefined) mailParams.push(`RET=${message.ret}`);
  if (dsn && message.envid !== undefined) mailParams.push(`ENVID=${encodeXtext(message.envid)}`);
  const mail = `MAIL FROM:<${message.from}>${mailParams.map((p) => ` ${p}`).join('')}`;
  const rcptLines = message.rcpts.map((r) => {
    const params: string[] = [];
    if (dsn && r.notify !== undefined) params.push(`NOTIFY=${r.notify.length === 0 ? 'NEVER' : r.notify.join(',')}`);
    if (dsn && r.orcpt !== undefined) params.push(`ORCPT=${r.orcpt.type};${encodeXtext(r.orcpt.address)}`);
    return `RCPT TO:<${r.address}>${params.map((p) => ` ${p}`).join('')}`;
  });

  let mailReply: PeerReply;
  const rcptReplies: PeerReply[] = [];
  if (pipelining) {
    await conn.send([mail, ...rcptLines]);
    mailReply = await conn.reply('MAIL');
    for (let i = 0; i < rcptLines.length; i++) rcptReplies.push(await conn.reply('RCPT'));
  } else {
    mailReply = await conn.command(mail, 'MAIL');
    if (mailReply.code === 250) for (const line of rcptLines) rcptReplies.push(await conn.command(line, 'RCPT'));
  }
  if (mailReply.code !== 250) {
    await conn.command('RSET').catch(() => undefined);
    return { method, chunks: 0, nonFinalMs: [], outcomes: message.rcpts.map((r) => outcome(r.address, mailReply, 'MAIL')) };
  }
  const outcomes = new Map<string, RecipientOutcome>();
  const accepted: Recipient[] = [];
  message.rcpts.forEach((r, i) => {
    const reply = rcptReplies[i];
    if (reply !== undefined && reply.code >= 200 && reply.code < 300) accepted.push(r);
    else if (reply !== undefined) outcomes.set(r.address, outcome(r.address, reply, 'RCPT'));
  });
  if (accepted.length === 0) {
    await conn.command('RSET').catch(() => undefined);
    return { method, chunks: 0, nonFinalMs: [], outcomes: message.rcpts.map((r) => outcomes.get(r.address) ?? outcome(r.address, mailReply, 'RCPT')) };
  }
  const sent: BdatResult = useBdat
    ? await sendBdatOrExplain(conn, message, converted === undefined, { ...bdat, chunkSize: options.chunkSize, pipelining })
    : { ...(await sendData(conn, message)), nonFinalMs: [] };
  for (const r of accepted) outcomes.set(r.address, outcome(r.address, sent.final, method));
  return {
    method, chunks: sent.chunks, nonFinalMs: sent.nonFinalMs, ...(sent.check === undefined ? {} : { check: sent.check }),
    outcomes: message.rcpts.map((r) => outcomes.get(r.address) ?? outcome(r.address, sent.final, method)), ...(converted === undefined ? {} : { converted }),
  };
}

async function sendData(conn: ClientConnection, message: OutboundMessage): Promise<{ final: PeerReply; chunks: number }> {
  const go = await conn.command('DATA');
  if (go.code !== 354) return { final: go, chunks: 0 };
  const stuffer = new DotStuffer();
  for await (const chunk of message.open()) await conn.write(stuffer.stuff(chunk as Buffer));
  await conn.write(stuffer.end());
  return { final: await conn.reply('DATA-end'), chunks: 0 };
}
