/**
 * `barge send`: a sendmail-like injector. Reads a message from stdin (into a temporary file, so a
 * message of any size costs no memory), then submits it to the running server over SMTP (BDAT
 * when offered). With --data-dir, or when no server answers on the default listener, it writes the
 * message straight into the spool instead; a server started later delivers it. Prints the queue id.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import addressparser from 'nodemailer/lib/addressparser/index.js';
import type { Config } from '../config/types.js';
import { domainOf } from '../protocol/command.js';
import { parseHostPort } from '../protocol/host-port.js';
import type { ClientMessage } from '../protocol/client-types.js';
import { SessionSocket } from '../client/session-socket.js';
import { outcomeProblem } from '../client/decisions.js';
import { downconvert } from '../message/downconvert.js';
import { Spool } from '../queue/spool.js';
import { makeIdSource } from '../message/queue-id.js';
import { dataPaths } from '../config/paths.js';
import { fieldValue, headerFields } from '../message/header.js';

export interface SendOptions {
  readonly from: string;
  readonly to: readonly string[];
  /** -t: take recipients from the To, Cc and Bcc headers as well. */
  readonly fromHeaders: boolean;
  readonly server?: string;
  readonly direct: boolean;
}

export async function runSend(
  config: Config,
  o: SendOptions,
  input: Readable,
  out: (l: string) => void,
  err: (l: string) => void,
): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'barge-send-'));
  try {
    const file = join(dir, 'message');
    await pipeline(input, createWriteStream(file));
    const size = (await stat(file)).size;
    const rcpts = [
      ...new Set([...o.to, ...(o.fromHeaders ? await headerRecipients(file) : [])].map((a) => a.trim()).filter((a) => a !== '')),
    ];
    if (rcpts.length === 0) {
      err('barge send: no recipients (use --to or -t)');
      return 2;
    }
    const body = (await hasHighBytes(file)) ? '8BITMIME' : '7BIT';
    if (o.direct) return await enqueueDirect(config, o.from, rcpts, file, size, body, out);
    const listener = config.listeners[0];
    const defaultPort = listener?.port ?? 2525;
    const server =
      o.server === undefined ? { host: listener?.host ?? '127.0.0.1', port: defaultPort } : parseHostPort(o.server, { defaultPort });
    if (server === undefined) {
      err(`barge send: --server wants HOST[:PORT] ("[::1]:2525" for IPv6), got ${JSON.stringify(o.server)}`);
      return 2;
    }
    const replyMs = 60_000;
    const { socket, connected, outcome } = await SessionSocket.open({
      ...server,
      connectTimeoutMs: 10_000,
      timeouts: { commandMs: replyMs, bdatCheckMs: replyMs, endOfDataMs: replyMs },
      session: { heloName: config.hostname, tls: 'none' },
    });
    // No server runs on the default listener: enqueue directly, as sendmail does.
    if (!connected && o.server === undefined) return await enqueueDirect(config, o.from, rcpts, file, size, body, out);
    try {
      if (outcome.kind !== 'ready') {
        err(`barge send: ${outcomeProblem(outcome)}`);
        return 1;
      }
      const recipients = rcpts.map((address) => ({ address, local: false }));
      const message: ClientMessage = { from: o.from, rcpts: recipients, body, smtputf8: false, size };
      const tx = { allowBdat: true, allowPipelining: true, allowBinarymime: true, chunkSize: config.delivery.chunkSize };
      const open = (converted?: string): Readable => {
        const content = createReadStream(file);
        return converted === undefined ? content : downconvert(content, body, converted);
      };
      const sent = (await socket.send(message, open, tx)).outcome;
      if (sent.kind !== 'delivered' && sent.kind !== 'rejected' && sent.kind !== 'unsendable') {
        err(`barge send: ${outcomeProblem(sent)}`);
        return 1;
      }
      const failed = sent.recipients.filter((x) => x.kind !== 'delivered');
      for (const f of failed) err(`barge send: ${f.address}: ${f.detail}`);
      const id = /queued as ([0-9A-Z]+)/.exec(sent.recipients.find((x) => x.kind === 'delivered')?.detail ?? '')?.[1];
      if (id !== undefined) out(id);
      return failed.length === 0 ? 0 : 1;
    } finally {
      await socket.quit();
    }
  } catch (e) {
    err(`barge send: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function enqueueDirect(
  config: Config,
  from: string,
  rcpts: readonly string[],
  file: string,
  size: number,
  body: '7BIT' | '8BITMIME',
  out: (l: string) => void,
): Promise<number> {
  // Only when no server holds the spool (open refuses otherwise): one process writes the log.
  const spool = await Spool.open(dataPaths(config.dataDir).spool);
  try {
    return await enqueueInto(spool, config, from, rcpts, file, size, body, out);
  } finally {
    await spool.close();
  }
}

async function enqueueInto(
  spool: Spool,
  config: Config,
  from: string,
  rcpts: readonly string[],
  file: string,
  size: number,
  body: '7BIT' | '8BITMIME',
  out: (l: string) => void,
): Promise<number> {
  const id = makeIdSource()();
  const writer = spool.begin(id);
  for await (const chunk of createReadStream(file)) {
    if (!writer.write(chunk as Buffer)) await new Promise<void>((resolve) => writer.onDrain(resolve));
  }
  const locals = new Set(config.localDomains);
  await spool.commit(writer, {
    id,
    receivedAt: new Date().toISOString(),
    listener: 'send',
    clientIp: '127.0.0.1',
    helo: config.hostname,
    protocol: 'local',
    method: 'DATA',
    chunks: 0,
    size,
    transaction: { from, body, smtputf8: false, rcpts: rcpts.map((address) => ({ address, local: locals.has(domainOf(address)) })) },
  });
  out(id);
  return 0;
}

/** Addresses in To, Cc and Bcc of the header section (first 64 KB), parsed as RFC 5322 address lists. */
async function headerRecipients(file: string): Promise<string[]> {
  const fields = headerFields(await firstBytes(file, 64 * 1024)).filter((f) => f.name === 'to' || f.name === 'cc' || f.name === 'bcc');
  // Quoted display names and comments may hold commas ("a@b.example, Sales" <real@x.example>).
  return fields.flatMap((f) =>
    addressparser(fieldValue(f), { flatten: true }).flatMap((a) => (a.address === undefined || a.address === '' ? [] : [a.address])),
  );
}

async function hasHighBytes(file: string): Promise<boolean> {
  for await (const chunk of createReadStream(file)) if ((chunk as Buffer).some((b) => b > 0x7f)) return true;
  return false;
}

async function firstBytes(file: string, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let length = 0;
  for await (const chunk of createReadStream(file, { end: n - 1 })) {
    parts.push(chunk as Buffer);
    length += (chunk as Buffer).length;
  }
  return Buffer.concat(parts, length);
}
