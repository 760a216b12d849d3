/**
 * Loads the configuration for the program. The file is validated against the schema in a short-lived
 * child process (validate-child.ts), as the self-signed certificate is made: zod and the code it
 * compiles are needed once per load, and would otherwise stay in the server's resident set (about
 * 4 MiB at peak, measured), which the server needs for its young generation (bin/barge.js).
 * Without a file there is nothing to validate: the schema takes {} as it is (load-apart.test.ts).
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Config } from './types.js';
import { assembleConfig, ConfigError, type ConfigText, type ServeFlags } from './assemble.js';
import type { FileConfig } from './schema.js';

export { ConfigError, type ServeFlags } from './assemble.js';

export async function loadConfig(configPath: string | undefined, flags: ServeFlags, machineHostname: string): Promise<Config> {
  if (configPath === undefined) return assembleConfig({}, undefined, flags, machineHostname);
  let text: string;
  try {
    text = await readFile(configPath, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read ${configPath}: ${e instanceof Error ? e.message : String(e)}`);
  }
  return checkConfig({ text, file: configPath }, flags, machineHostname);
}

/** The Config a file's text would give (the console checks an edit with it before writing it). */
export async function checkConfig(toml: ConfigText, flags: ServeFlags, machineHostname: string): Promise<Config> {
  return assembleConfig(await validatedApart(toml), toml, flags, machineHostname);
}

/** What the child answers: the validated settings, or why they are not valid. */
export type ChildAnswer = { readonly file: FileConfig } | { readonly error: string };

function validatedApart(toml: ConfigText): Promise<FileConfig> {
  const script = fileURLToPath(new URL('./validate-child.js', import.meta.url));
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [script], { maxBuffer: 16 * 1024 * 1024 }, (e, stdout, stderr) => {
      let answer: ChildAnswer;
      try {
        answer = JSON.parse(stdout) as ChildAnswer;
      } catch {
        reject(new ConfigError(`cannot validate ${toml.file}: ${e?.message ?? ''} ${stderr}`.trim()));
        return;
      }
      if ('error' in answer) reject(new ConfigError(answer.error));
      else resolve(answer.file);
    });
    child.stdin?.end(JSON.stringify(toml));
  });
}
