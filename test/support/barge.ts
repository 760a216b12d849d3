/** Starts a real Barge server on loopback (port 0) in a fresh temporary data directory. */
import { rmSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServeFlags } from '../../src/config/assemble.js';
import { buildConfig } from '../../src/config/validate.js';
import type { Config } from '../../src/config/types.js';
import { startServer, type RunningServer, type ServerDeps } from '../../src/app/run.js';
import { dataPaths } from '../../src/config/paths.js';
import { mailboxFolder } from '../../src/queue/maildir.js';
import { readTrackingLog, type TrackingRecord } from '../../src/log/tracking.js';

export const TEST_HOSTNAME = 'barge.test';

export interface TestBarge {
  readonly server: RunningServer;
  readonly config: Config;
  readonly port: number;
  readonly dataDir: string;
  /** Message files delivered to a local mailbox (new/), oldest first. */
  mailbox(address: string): Promise<Buffer[]>;
  tracking(): Promise<TrackingRecord[]>;
  /** The W3C protocol log text of the first listener. */
  protocolLog(): Promise<string>;
  stop(): Promise<void>;
}

/** Every temporary directory this test file made, removed when its process exits (tests need not). */
const made: string[] = [];
process.once('exit', () => {
  for (const dir of made) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // A directory a peer still holds is left for the system's temporary-file cleaning.
    }
  }
});

export async function tempDir(prefix = 'barge-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export async function startBarge(toml = '', flags: ServeFlags = {}, dataDir?: string, deps: ServerDeps = {}): Promise<TestBarge> {
  const dir = dataDir ?? (await tempDir());
  const config = buildConfig(
    toml === '' ? undefined : { text: toml, file: 'test.toml' },
    { listen: ['127.0.0.1:0'], dataDir: dir, ...flags },
    TEST_HOSTNAME,
  );
  const server = await startServer(config, deps);
  const port = server.addresses[0]?.port ?? 0;
  const paths = dataPaths(dir);
  return {
    server,
    config,
    port,
    dataDir: dir,
    async mailbox(address) {
      const folder = join(mailboxFolder(paths.mail, address), 'new');
      const names = await readdir(folder).catch(() => [] as string[]);
      return Promise.all(names.sort().map((n) => readFile(join(folder, n))));
    },
    async tracking() {
      await server.flushLogs();
      return readTrackingLog(paths.tracking);
    },
    async protocolLog() {
      await server.flushLogs();
      const folder = join(paths.log, config.listeners[0]?.logFolder ?? 'SMTPSVC1');
      const names = (await readdir(folder).catch(() => [] as string[])).sort();
      return (await Promise.all(names.map((n) => readFile(join(folder, n), 'utf8')))).join('');
    },
    async stop() {
      await server.stop();
      if (dataDir === undefined) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Waits until `check` returns a value other than undefined (polling), or throws after `ms`. */
export async function eventually<T>(check: () => Promise<T | undefined>, ms = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Strips the headers Barge adds (Return-Path, Delivered-To, Received) to compare with what was sent. */
export function stripBargeHeaders(delivered: Buffer): Buffer {
  let pos = 0;
  for (const name of ['Return-Path:', 'Delivered-To:', 'Received:']) {
    if (delivered.subarray(pos, pos + name.length).toString('latin1') !== name) throw new Error(`expected ${name} at ${pos}`);
    // A header ends at a CRLF not followed by folding whitespace.
    let end = delivered.indexOf('\r\n', pos);
    while (end >= 0 && (delivered[end + 2] === 0x20 || delivered[end + 2] === 0x09)) end = delivered.indexOf('\r\n', end + 2);
    if (end < 0) throw new Error(`unterminated ${name}`);
    pos = end + 2;
  }
  return delivered.subarray(pos);
}
