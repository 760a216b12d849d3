/** The hardening settings: defaults as documented, TOML keys, and errors that name the key. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from './assemble.js';
import { buildConfig } from './validate.js';

const toml = (text: string): { text: string; file: string } => ({ text, file: 'barge.toml' });

test('defaults: 100 junk commands, one ETRN run per node per 10 s, 2 scrypt checks at once', () => {
  const c = buildConfig(undefined, {}, 'host.example');
  assert.equal(c.limits.maxJunkCommands, 100);
  assert.equal(c.limits.etrnIntervalMs, 10_000);
  assert.equal(c.auth.maxParallelChecks, 2);
});

test('max_junk_commands, etrn_interval and max_parallel_checks are read from the file; bad values name the key', () => {
  const c = buildConfig(toml('[limits]\nmax_junk_commands = 20\netrn_interval = "1m"\n[auth]\nmax_parallel_checks = 1\n'), {}, 'h');
  assert.equal(c.limits.maxJunkCommands, 20);
  assert.equal(c.limits.etrnIntervalMs, 60_000);
  assert.equal(c.auth.maxParallelChecks, 1);
  assert.throws(
    () => buildConfig(toml('[auth]\nmax_parallel_checks = 0\n'), {}, 'h'),
    (e: unknown) => e instanceof ConfigError && /line 2: auth\.max_parallel_checks/.test(e.message),
  );
  assert.throws(
    () => buildConfig(toml('[limits]\nmax_junk_commands = -1\n'), {}, 'h'),
    (e: unknown) => e instanceof ConfigError && /limits\.max_junk_commands/.test(e.message),
  );
});
