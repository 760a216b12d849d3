/** Runs `barge serve` as a child process (so it can be killed with SIGKILL) on a free loopback port. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const BIN = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..', 'bin', 'barge.js');

export interface ChildBarge {
  readonly child: ChildProcess;
  readonly port: number;
  /** Everything the child wrote to stderr so far. */
  log(): string;
  /** Everything the child wrote to stdout so far. */
  output(): string;
}

/** `wrapper` runs the server through another command, e.g. `prlimit --nofile=1024:1024 --`. */
export function spawnBarge(dataDir: string, extra: readonly string[] = [], wrapper: readonly string[] = []): Promise<ChildBarge> {
  return new Promise((resolve, reject) => {
    const args = [
      BIN,
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--data-dir',
      dataDir,
      '--hostname',
      'barge.test',
      '--admin-listen',
      'off',
      ...extra,
    ];
    const [command = process.execPath, ...before] = [...wrapper, process.execPath];
    const child = spawn(command, [...before, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    let output = '';
    child.stdout?.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      text += d.toString();
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(text);
      if (m !== null) resolve({ child, port: Number(m[1]), log: () => text, output: () => output });
    });
    child.once('exit', (code) => reject(new Error(`barge exited ${String(code)} before listening: ${text}`)));
  });
}

export function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}
