/** Runs a `barge` command as a child process (any executable: the checkout's bin or an installed one), and mails it one message. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { RawSmtp } from './raw-client.js';
import { eventually } from './barge.js';
import { mailboxFolder } from '../../src/queue/maildir.js';

export interface ChildServer {
  readonly child: ChildProcess;
  /** Everything the child wrote to stderr so far. */
  log(): string;
  /** Resolves with the first match of `pattern` in stderr; rejects when the child exits first or after `ms`. */
  waitFor(pattern: RegExp, ms?: number): Promise<RegExpExecArray>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

export function startChild(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): ChildServer {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
  let text = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.stderr?.on('data', (d: Buffer) => {
    text += d.toString();
  });
  return {
    child,
    log: () => text,
    async waitFor(pattern, ms = 60_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const m = pattern.exec(text);
        if (m !== null) return m;
        if (child.exitCode !== null || child.signalCode !== null)
          throw new Error(`${command} exited (${child.exitCode ?? child.signalCode}) before ${pattern}: ${text}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}: ${text}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Sends one message by DATA to `to` at host:port, and returns the bytes delivered to its Maildir under `mailRoot`. */
export async function mailOne(host: string, port: number, to: string, mailRoot: string): Promise<{ file: string; bytes: Buffer }> {
  const c = await RawSmtp.connect(port, host);
  assert.equal((await c.reply()).code, 220);
  assert.equal((await c.command('EHLO client.test')).code, 250);
  assert.equal((await c.command('MAIL FROM:<sender@client.test>')).code, 250);
  assert.equal((await c.command(`RCPT TO:<${to}>`)).code, 250);
  assert.equal((await c.command('DATA')).code, 354);
  const done = await c.command('Subject: one\r\n\r\nOne message.\r\n.');
  assert.equal(done.code, 250, done.raw);
  await c.command('QUIT');
  c.close();
  const folder = join(mailboxFolder(mailRoot, to), 'new');
  const name = await eventually(async () => (await readdir(folder).catch(() => [] as string[]))[0], 20_000, `a message in ${folder}`);
  const file = join(folder, name);
  return { file, bytes: await readFile(file) };
}
