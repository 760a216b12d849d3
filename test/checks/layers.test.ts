/** The layering check (scripts/layers.mjs) passes on the tree and fails on an upward import, a sideways one, and a cycle. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../support/barge.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const check = (dir: string): { code: number | null; stderr: string } => {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'layers.mjs'), dir], { encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr };
};

async function tree(files: Record<string, string>): Promise<string> {
  const dir = await tempDir('barge-layers-');
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

test('the source tree keeps its floor plan: no cycle, no import upwards', () => {
  const r = check(join(root, 'src'));
  assert.equal(r.code, 0, r.stderr);
});

test('an import from a lower room to a higher one fails the check, naming both', async () => {
  const dir = await tree({
    'protocol/session.ts': "import { x } from '../server/listener.js';\nexport const y = x;\n",
    'server/listener.ts': 'export const x = 1;\n',
  });
  const r = check(dir);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /protocol\/session\.ts -> server\/listener\.ts: server is above protocol/);
  // The same import the right way round passes.
  const ok = await tree({
    'server/listener.ts': "import { y } from '../protocol/session.js';\nexport const x = y;\n",
    'protocol/session.ts': 'export const y = 1;\n',
  });
  assert.equal(check(ok).code, 0);
});

test('the two faces on one floor may not import each other, and an unknown room is named', async () => {
  const dir = await tree({
    'admin/page.ts': "import type { T } from '../cli/command.js';\nexport type U = T;\n",
    'cli/command.ts': 'export type T = 1;\n',
    'attic/x.ts': "import '../protocol/y.js';\n",
    'protocol/y.ts': '',
  });
  const r = check(dir);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /admin\/page\.ts -> cli\/command\.ts: cli is on the same floor as admin/);
  assert.match(r.stderr, /room 'attic' is not in the floor plan/);
});

test('an import cycle fails the check, inside one room too', async () => {
  const dir = await tree({
    'queue/a.ts': "import { b } from './b.js';\nexport const a = () => b;\n",
    'queue/b.ts': "import { a } from './a.js';\nexport const b = () => a;\n",
  });
  const r = check(dir);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /import cycle: queue\/a\.ts <-> queue\/b\.ts/);
});
