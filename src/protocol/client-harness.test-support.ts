/**
 * A test shell for ClientSession: it plays the socket. The peer's replies are "turns" (what the peer
 * sends after each client write it answers); a turn is delivered whenever the session awaits a reply,
 * whole, split at one offset, or byte by byte. Content is fed while the session wants it. When the
 * turns run out while a reply is due, the shell's timer "fires". Everything the client sends and every
 * outcome is recorded.
 */
import { ClientSession } from './client-session.js';
import type {
  ClientAction,
  ClientMessage,
  ClientOutcome,
  ClientSessionOptions,
  ReplyClass,
  TlsInfo,
  TransactionOptions,
} from './client-types.js';

export interface Drive {
  /** Protocol-log lines of the commands sent, in order ("EHLO client.test", "BDAT 10 LAST", "****"). */
  readonly commands: string[];
  /** Every byte written, in order. */
  readonly wire: Buffer;
  readonly outcomes: ClientOutcome[];
  /** The class of each reply awaited when a turn was delivered or the timer fired. */
  readonly classes: ReplyClass[];
  readonly tlsUpgrades: number;
  readonly timeouts: number;
  readonly closed: boolean;
  readonly steps: number;
  /** BDAT chunk events: "sent 4096 check", "sent 10 last", "answered 250"; "LAST opened" when a send opens the last chunk. */
  readonly chunkEvents: string[];
}

export interface DriveOptions {
  readonly session?: Partial<ClientSessionOptions>;
  readonly transaction?: Partial<TransactionOptions>;
  readonly messages?: readonly ClientMessage[];
  /** Content of each message, in the pieces the spool would give. */
  readonly bodies?: readonly (readonly Buffer[])[];
  /** How turns are cut: 'whole', a global offset into the concatenated turns, or 'bytes'. */
  readonly split?: 'whole' | 'bytes' | number;
  /** A STARTTLS handshake fails with this reason. */
  readonly tlsFails?: string;
  /** A STARTTLS handshake never completes. */
  readonly tlsHangs?: boolean;
  /** What a completed handshake reports (verified when absent). */
  readonly tlsInfo?: TlsInfo;
  /** The peer closes the connection when the turns run out, instead of going silent. */
  readonly closeAtEnd?: boolean;
}

export const GREETING = '220 mx.example ESMTP\r\n';
export const EHLO_FULL =
  '250-mx.example\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-SIZE 100000\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n';
export const EHLO_PLAIN = '250-mx.example\r\n250-PIPELINING\r\n250 SIZE 100000\r\n';

export const MESSAGE: ClientMessage = {
  from: 'alice@example.org',
  rcpts: [{ address: 'bob@example.net', local: false }],
  body: '7BIT',
  smtputf8: false,
  size: 0,
};

export function message(
  body: string,
  rcpts = ['bob@example.net'],
  extra: Partial<ClientMessage> = {},
): { message: ClientMessage; body: Buffer[] } {
  const bytes = Buffer.from(body, 'latin1');
  return {
    message: { ...MESSAGE, rcpts: rcpts.map((address) => ({ address, local: false })), size: bytes.length, ...extra },
    body: [bytes],
  };
}

export function drive(turns: readonly string[], o: DriveOptions = {}): Drive {
  const session = new ClientSession({ heloName: 'client.test', tls: 'opportunistic', ...o.session });
  const txOptions: TransactionOptions = {
    allowBdat: true,
    allowPipelining: true,
    allowBinarymime: true,
    chunkSize: 1 << 20,
    ...o.transaction,
  };
  const messages = [...(o.messages ?? [])];
  const bodies = [...(o.bodies ?? [])];
  const commands: string[] = [];
  const wire: Buffer[] = [];
  const outcomes: ClientOutcome[] = [];
  const classes: ReplyClass[] = [];
  const chunkEvents: string[] = [];
  let tlsUpgrades = 0;
  let timeouts = 0;
  let pieces: Buffer[] = [];
  let feeding = false;
  const queue = cut(turns, o.split ?? 'whole');
  const work: Array<() => ClientAction[]> = [];

  const perform = (actions: readonly ClientAction[]): void => {
    for (const a of actions) {
      if (a.kind === 'send') {
        wire.push(a.bytes);
        commands.push(...a.log);
        if (a.lastChunk === true) chunkEvents.push('LAST opened');
      } else if (a.kind === 'chunkSent') {
        chunkEvents.push(`sent ${a.octets}${a.check ? ' check' : ''}${a.last ? ' last' : ''}`);
      } else if (a.kind === 'chunkAnswered') {
        chunkEvents.push(`answered ${a.code}`);
      } else if (a.kind === 'startTls') {
        tlsUpgrades++;
        const done = (): ClientAction[] => (o.tlsFails === undefined ? session.tlsEstablished(o.tlsInfo) : session.tlsFailed(o.tlsFails));
        if (o.tlsHangs !== true) work.push(done);
      } else if (a.kind === 'openBody') {
        pieces = [...(bodies.shift() ?? [])];
        feeding = true;
      } else if (a.kind === 'outcome') {
        outcomes.push(a.outcome);
        feeding = false;
        if (!session.closed) {
          const next = messages.shift();
          work.push(() => (next === undefined ? session.quit() : session.send(next, txOptions)));
        }
      }
    }
  };

  let steps = 0;
  for (; steps < 100_000 && !session.closed; steps++) {
    const job = work.shift();
    if (job !== undefined) {
      perform(job());
      continue;
    }
    if (feeding && session.wantsBody) {
      const piece = pieces.shift();
      if (piece === undefined) {
        feeding = false;
        perform(session.bodyEnd());
      } else perform(session.body(piece));
      continue;
    }
    const due = session.awaiting;
    if (due === undefined) break;
    classes.push(due);
    const turn = queue.shift();
    if (turn !== undefined) {
      for (const part of turn) perform(session.receive(part));
    } else if (o.closeAtEnd === true) {
      perform(session.connectionClosed());
    } else {
      timeouts++;
      perform(session.timeout());
    }
  }
  return { commands, wire: Buffer.concat(wire), outcomes, classes, tlsUpgrades, timeouts, closed: session.closed, steps, chunkEvents };
}

/** Each turn as the pieces it arrives in. */
function cut(turns: readonly string[], split: 'whole' | 'bytes' | number): Buffer[][] {
  let offset = 0;
  return turns.map((t) => {
    const b = Buffer.from(t, 'latin1');
    const start = offset;
    offset += b.length;
    if (split === 'whole') return [b];
    if (split === 'bytes') return [...b].map((x) => Buffer.from([x]));
    const at = split - start;
    return at > 0 && at < b.length ? [b.subarray(0, at), b.subarray(at)] : [b];
  });
}
