// Runs the compiled test files with node's test runner, on each Node.js version the suite supports.
// `node scripts/test.mjs WORD...` runs the files whose path contains a WORD, on the running Node only.
// Without words (npm test) the whole suite runs on the running Node and then on each of TEST_NODES
// (scripts/prepare.mjs --test installs them), one after the other (the tests time real sockets and
// fsyncs: they are not run side by side). BARGE_TEST_NODES chooses instead: "current", or majors
// such as "22,24" (each the running Node or one prepare.mjs installed).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { cachedNode, TEST_NODES } from './prepare.mjs';

function find(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) find(path, out);
    else if (name.endsWith('.test.js')) out.push(path);
  }
  return out;
}
const filter = process.argv.slice(2);
/** Test files that time another session's replies (under 100 ms) while the server works hard: not beside other tests. */
const ALONE = ['mailauth-bounds.test.js', 'log-history.test.js', 'console-limits.test.js', 'flow-control.test.js'];
// A compiled test whose source was deleted stays in dist/ until prepare.mjs prunes it: skip it.
const hasSource = (f) => existsSync(f.replace(/^dist[\\/]/, '').replace(/\.js$/, '.ts'));
const files = find('dist')
  .filter(hasSource)
  .filter((f) => filter.length === 0 || filter.some((s) => f.includes(s)))
  .sort();

const current = process.versions.node.split('.')[0];
const wanted = (process.env.BARGE_TEST_NODES ?? (filter.length > 0 ? 'current' : ['current', ...TEST_NODES].join(',')))
  .split(',')
  .map((n) => n.trim())
  .map((n) => (n === 'current' ? current : n));
const nodes = [...new Set(wanted)].map((major) => ({ major, path: major === current ? process.execPath : cachedNode(major) }));
const absent = nodes.filter((n) => !existsSync(n.path));
if (absent.length > 0) {
  for (const n of absent)
    console.error(`Node ${n.major} is not installed at ${n.path}: run node scripts/prepare.mjs --test (npm test does)`);
  process.exit(1);
}

const results = [];
for (const node of nodes) {
  const version = spawnSync(node.path, ['--version'], { encoding: 'utf8' }).stdout.trim();
  if (nodes.length > 1) console.log(`\n# Node ${version} (${node.path})`);
  const started = performance.now();
  // Tests that bound a latency while the machine is busy with their own load run after the rest, one at a time.
  const parallel = files.filter((f) => !ALONE.some((a) => f.includes(a)));
  const alone = files.filter((f) => ALONE.some((a) => f.includes(a)));
  let status = 0;
  if (parallel.length > 0) status = spawnSync(node.path, ['--test', '--test-concurrency=4', ...parallel], { stdio: 'inherit' }).status ?? 1;
  if (alone.length > 0) status ||= spawnSync(node.path, ['--test', '--test-concurrency=1', ...alone], { stdio: 'inherit' }).status ?? 1;
  results.push({ version, status, seconds: (performance.now() - started) / 1000 });
}
if (results.length > 1) {
  console.log('\n# Suite per Node.js version');
  for (const r of results) console.log(`#   ${r.version}: ${r.status === 0 ? 'pass' : 'FAIL'} in ${r.seconds.toFixed(0)} s`);
}
process.exit(results.every((r) => r.status === 0) ? 0 : 1);
