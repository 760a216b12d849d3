/**
 * `node validate-child.js` with {text, file} as JSON on stdin: prints the validated settings, or the
 * error, as JSON on stdout (load.ts runs it, so the schema library stays out of the server).
 */
import { text } from 'node:stream/consumers';
import { ConfigError } from './assemble.js';
import type { ChildAnswer } from './load.js';
import { validateFile } from './validate.js';

let answer: ChildAnswer;
try {
  answer = { file: validateFile(JSON.parse(await text(process.stdin)) as { text: string; file: string }) };
} catch (e) {
  answer = { error: e instanceof ConfigError ? e.message : `cannot validate: ${String(e)}` };
}
process.stdout.write(JSON.stringify(answer));
