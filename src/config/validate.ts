/**
 * Validates a configuration file's text against the schema (zod), in this process: the tests, and
 * the short-lived child that load.ts runs for the server (validate-child.ts).
 */
import { parse, TomlError } from 'smol-toml';
import type { Config } from './types.js';
import { assembleConfig, ConfigError, type ConfigText, type ServeFlags } from './assemble.js';
import { describeIssues, locator } from './toml-errors.js';
import { fileSchema, type FileConfig } from './schema.js';

/** The file's settings, validated; a ConfigError names each bad key and its line. */
export function validateFile(toml: ConfigText): FileConfig {
  const result = fileSchema.safeParse(parseFile(toml.text, toml.file));
  if (!result.success) throw new ConfigError(describeIssues(result.error, locator(toml)));
  return result.data;
}

/** The Config from an optional file and flags, validated in this process. */
export function buildConfig(toml: ConfigText | undefined, flags: ServeFlags, machineHostname: string): Config {
  return assembleConfig(toml === undefined ? {} : validateFile(toml), toml, flags, machineHostname);
}

function parseFile(text: string, file: string): Record<string, unknown> {
  try {
    return parse(text);
  } catch (e) {
    if (e instanceof TomlError) throw new ConfigError(`${file} line ${e.line}: ${e.message.split('\n')[0] ?? 'invalid TOML'}`);
    throw e;
  }
}
