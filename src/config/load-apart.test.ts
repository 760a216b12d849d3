/** The program's loader: the file validated in a child process, and zod kept out of the server. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from './assemble.js';
import { loadConfig } from './load.js';
import { fileSchema } from './schema.js';
import { buildConfig } from './validate.js';

const FILE = `hostname = "mx.example.com"
local_domains = ["Example.com"]

[limits]
max_message_size = "10MB"
command_timeout = "2m"

[delivery]
retry_schedule = ["1m", "10m"]

[routes]
"example.net" = "127.0.0.1:2526"

[listener.submission]
listen = "127.0.0.1:2587"
tls = "required"
auth = "required"
`;

test('without a file there is nothing to validate: the schema takes {} as it is', () => {
  assert.deepEqual(fileSchema.parse({}), {});
});

test('a file validated in the child gives the same Config as in-process, and the same errors', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'barge-config-'));
  try {
    const path = join(dir, 'barge.toml');
    await writeFile(path, FILE);
    const apart = await loadConfig(path, { dataDir: dir }, 'host.example');
    assert.deepEqual(apart, buildConfig({ text: FILE, file: path }, { dataDir: dir }, 'host.example'));
    assert.equal(apart.limits.maxMessageSize, 10 * 1024 * 1024);
    assert.deepEqual([...apart.delivery.routes.keys()], ['example.net']);

    // An unknown key on line 5: the child's message is the in-process one, naming key and line.
    const bad = FILE.replace('max_message_size', 'max_recipientz = 5\nmax_message_size');
    await writeFile(path, bad);
    const named = (e: unknown): boolean =>
      e instanceof ConfigError && /barge\.toml line 5: limits: unknown key "max_recipientz"$/.test(e.message);
    assert.throws(() => buildConfig({ text: bad, file: path }, {}, 'h'), named);
    await assert.rejects(loadConfig(path, {}, 'h'), named);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** The modules a compiled module loads, statically or by a literal import(): package names and resolved paths. */
async function importsOf(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8');
  const found = [
    ...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)|(?:^|\n)import\s+'([^']+)'/g),
  ];
  return found.map((m) => m[1] ?? m[2] ?? m[3] ?? '').map((s) => (s.startsWith('.') ? resolve(dirname(file), s) : s));
}

test('nothing the server can load imports zod: the schema runs only in the validating child', async () => {
  const start = join(dirname(fileURLToPath(import.meta.url)), '..', 'app', 'main.js');
  const seen = new Set<string>([start]);
  const packages = new Set<string>();
  for (const file of seen) {
    for (const spec of await importsOf(file)) {
      if (spec.startsWith('/')) seen.add(spec);
      else packages.add(spec);
    }
  }
  assert.ok(seen.has(join(dirname(start), '..', 'config', 'load.js')), 'the walk reaches the loader');
  // Literal import()s are followed too: mailauth (library.ts) and the console (run.ts) load on first use.
  assert.ok(packages.has('mailauth') && packages.has('hono'), [...packages].join(' '));
  assert.deepEqual(
    [...packages].filter((p) => p === 'zod' || p.startsWith('zod/')),
    [],
  );
  assert.deepEqual(
    [...seen].filter((f) => /config\/(schema|validate)\.js$/.test(f)),
    [],
  );
});
