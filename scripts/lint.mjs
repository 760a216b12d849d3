// Lints the tree: Biome's rules and its formatting (biome.jsonc; `npm run format` applies it), then line width (the
// formatter leaves long strings and comments alone), then the layering check.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const biome = spawnSync(
  process.execPath,
  [join(root, 'node_modules', '@biomejs', 'biome', 'bin', 'biome'), 'check', '--error-on-warnings'],
  { cwd: root, stdio: 'inherit' },
);
if (biome.status !== 0) process.exit(biome.status ?? 1);

/** Longer lines are errors. The formatter's width (biome.jsonc) is 140; what it cannot wrap (strings, comments) may reach this. */
const HARD_LIMIT = 200;
const files = (dir, out = []) => {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) files(path, out);
    else if (/\.(ts|mjs|js)$/.test(name)) out.push(path);
  }
  return out;
};
const long = [];
for (const file of ['src', 'test', 'bench', 'scripts'].flatMap((d) => files(join(root, d)))) {
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (line.length > HARD_LIMIT) long.push(`${relative(root, file)}:${i + 1}: ${line.length} characters (limit ${HARD_LIMIT})`);
    });
}
for (const l of long) console.error(l);
if (long.length > 0) process.exit(1);

// The floor plan of src/ (scripts/layers.mjs): no import cycle, no import from a lower room to a higher one.
const layers = spawnSync(process.execPath, [join(root, 'scripts', 'layers.mjs')], { cwd: root, stdio: 'inherit' });
process.exit(layers.status ?? 1);
