#!/usr/bin/env node
// The `barge` command: runs the compiled CLI (npm run build, or any npm start/test, compiles it).
import { main } from '../dist/src/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(err instanceof Error ? err.message : String(err)); process.exitCode = 1; },
);
