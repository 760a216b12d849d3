// The layering check: rooms (top-level folders of src/) are floors, and a module may import only from
// its own room or a room on a lower floor; no import cycle at all, between rooms or inside one.
// The floor plan below is the one place the order is written (docs/architecture.md explains it).
// `node scripts/layers.mjs [DIR]` checks DIR (default: src) and exits 1 with one line per finding.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Bottom first. Rooms on one floor may not import each other (cli and admin are two faces of one floor). */
export const FLOORS = [
  ['types', 'time', 'protocol'],
  ['fs', 'message'],
  ['log'],
  ['config'],
  ['auth'],
  ['queue'],
  ['mailauth'],
  ['client'],
  ['probe', 'middlebox', 'acme'],
  ['filter'],
  ['server'],
  ['admin', 'cli'],
  ['app'],
];

const IMPORT = /(?:^|[\s;])(?:import|export)\s(?:[^'";]*?\sfrom\s)?\s*'(\.[^']+)'|import\(\s*'(\.[^']+)'\s*\)/g;

/** Source modules (tests and test support excluded: they may reach anywhere). */
function modules(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) modules(path, out);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts') && !name.endsWith('.test.ts') && !name.includes('.test-support.'))
      out.push(path);
  }
  return out;
}

/** Relative imports of each module, resolved to module paths relative to `dir` (type-only imports count too). */
export function importGraph(dir) {
  const graph = new Map();
  for (const file of modules(dir)) {
    const text = readFileSync(file, 'utf8');
    const targets = new Set();
    for (const m of text.matchAll(IMPORT)) {
      const target = resolve(dirname(file), m[1] ?? m[2]).replace(/\.js$/, '.ts');
      targets.add(relative(dir, target));
    }
    graph.set(relative(dir, file), [...targets]);
  }
  return graph;
}

const roomOf = (path) => (path.includes(sep) ? path.split(sep)[0] : '');

/** Import cycles as lists of modules (Tarjan's strongly connected components of more than one module, or a self-import). */
export function cycles(graph) {
  let index = 0;
  const stack = [];
  const state = new Map();
  const found = [];
  const visit = (v) => {
    const s = { index, low: index, onStack: true };
    index++;
    state.set(v, s);
    stack.push(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      const t = state.get(w);
      if (t === undefined) {
        visit(w);
        s.low = Math.min(s.low, state.get(w).low);
      } else if (t.onStack) s.low = Math.min(s.low, t.index);
    }
    if (s.low !== s.index) return;
    const component = [];
    let w;
    do {
      w = stack.pop();
      state.get(w).onStack = false;
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.sort());
  };
  for (const v of [...graph.keys()].sort()) if (!state.has(v)) visit(v);
  return found;
}

/** Imports that go up a floor, sideways between rooms of one floor, or into a room the plan does not know. */
export function upwardImports(graph, floors = FLOORS) {
  const floor = new Map(floors.flatMap((rooms, i) => rooms.map((r) => [r, i])));
  const found = [];
  for (const [from, targets] of graph) {
    const a = roomOf(from);
    for (const to of targets) {
      const b = roomOf(to);
      if (a === b) continue;
      const fa = floor.get(a);
      const fb = floor.get(b);
      if (fa === undefined || fb === undefined) found.push(`${from} -> ${to}: room '${fa === undefined ? a : b}' is not in the floor plan`);
      else if (fb >= fa) found.push(`${from} -> ${to}: ${b} is ${fb === fa ? 'on the same floor as' : 'above'} ${a}`);
    }
  }
  return found.sort();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const dir = resolve(root, process.argv[2] ?? 'src');
  const graph = importGraph(dir);
  const problems = [...cycles(graph).map((c) => `import cycle: ${c.join(' <-> ')}`), ...upwardImports(graph)];
  for (const p of problems) console.error(`layers: ${p}`);
  if (problems.length > 0) process.exit(1);
}
