/** Drives a ServerSession like the shell does, collecting replies and committed messages (tests only). */
import { ServerSession, type ServerSessionOptions, type ReceivedMessage } from './server-session.js';
import { resolveExtensions, DEFAULT_INBOUND_MASK, type ExtensionSwitches } from './extensions.js';
import { Reply } from './replies.js';

export interface Transcript {
  /** Every reply text, concatenated in order. */
  readonly replies: string;
  /** Reply codes in order. */
  readonly codes: number[];
  readonly messages: Array<{ readonly message: ReceivedMessage; readonly body: Buffer }>;
  readonly discards: number;
  readonly closed: boolean;
}

export function sessionOptions(overrides: Partial<ServerSessionOptions> & { switches?: ExtensionSwitches } = {}): ServerSessionOptions {
  const { switches, ...rest } = overrides;
  return {
    hostname: 'mx.test',
    clientIp: '192.0.2.1',
    extensions: resolveExtensions(DEFAULT_INBOUND_MASK, switches ?? {}),
    maxMessageSize: 1_000_000,
    maxRecipients: 100,
    maxErrors: 50,
    normaliseBareLineEndings: false,
    vrfy: 'cannot',
    expn: false,
    checkRecipient: (a) => (a.endsWith('@mx.test') ? { accept: 'local' } : a.endsWith('@relay.test') ? { accept: 'relay' } : { refuse: Reply.relayDenied() }),
    ...rest,
  };
}

/** Feeds `pieces` in order; answers every commit with id Q1, Q2, ... */
export function drive(pieces: readonly Buffer[], options: ServerSessionOptions = sessionOptions()): Transcript {
  const session = new ServerSession(options);
  let replies = '';
  const messages: Array<{ message: ReceivedMessage; body: Buffer }> = [];
  let body: Buffer[] = [];
  let discards = 0;
  let closed = false;
  const perform = (actions: ReturnType<ServerSession['receive']>): void => {
    for (const a of actions) {
      switch (a.kind) {
        case 'send': replies += a.text; break;
        case 'begin': body = []; break;
        case 'body': body.push(Buffer.from(a.bytes)); break;
        case 'discard': discards++; body = []; break;
        case 'commit':
          messages.push({ message: a.message, body: Buffer.concat(body) });
          body = [];
          perform(session.committed({ id: `Q${messages.length}` }));
          break;
        case 'etrn': break;
        case 'close': closed = true; break;
      }
    }
  };
  perform(session.greet());
  for (const p of pieces) perform(session.receive(p));
  const codes = replies.split('\r\n').filter((l) => /^\d{3} /.test(l)).map((l) => Number(l.slice(0, 3)));
  return { replies, codes, messages, discards, closed };
}

/** Every way of cutting `bytes` in two, plus one byte at a time. */
export function splits(bytes: Buffer): Buffer[][] {
  const out: Buffer[][] = [];
  for (let i = 1; i < bytes.length; i++) out.push([bytes.subarray(0, i), bytes.subarray(i)]);
  out.push([...bytes].map((b) => Buffer.from([b])));
  return out;
}

export const b = (s: string): Buffer => Buffer.from(s, 'latin1');
