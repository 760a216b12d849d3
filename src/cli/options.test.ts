/** `barge options`: the IIS masks administrators already know, both ways. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runOptions } from './options.js';

function run(...args: string[]): { code: number; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  const code = runOptions(
    args,
    (l) => out.push(l),
    (l) => err.push(l),
  );
  return { code, out, err };
}

test('encode gives the classic values: 4551873 inbound without CHUNKING/BINARYMIME, 5 outbound without BDAT', () => {
  assert.deepEqual(run('encode', '--without', 'CHUNKING,BINARYMIME').out, ['4551873']);
  assert.deepEqual(run('encode', '--outbound', '--without', 'BDAT').out, ['5']);
  assert.deepEqual(run('encode', '--base', '4551873', '--with', 'chunking,binarymime').out, ['7697601']);
  assert.deepEqual(run('encode', '--base', '0', '--with', 'DSN').out, ['64']);
});

test('decode lists enabled, disabled and unknown bits', () => {
  const all = run('decode', '7697601');
  assert.equal(all.code, 0);
  assert.match(all.out.join('\n'), /enabled: {2}DSN ETRN TURN ENHANCEDSTATUSCODES CHUNKING BINARYMIME 8BITMIME/);
  assert.match(all.out.join('\n'), /unknown bits: 352257 \(0x56001\)/);
  const masked = run('decode', '4551873');
  assert.match(masked.out.join('\n'), /disabled: CHUNKING BINARYMIME/);
  const outbound = run('decode', '5', '--outbound');
  assert.match(outbound.out.join('\n'), /disabled: BDAT/);
  assert.match(outbound.out.join('\n'), /unknown bits: 5 \(0x5\)/);
});

test('usage errors exit 2 with a message', () => {
  for (const args of [
    [],
    ['decode'],
    ['decode', 'x'],
    ['decode', '-1'],
    ['encode', '--without', 'NOPE'],
    ['frob'],
    ['encode', '--bogus'],
  ]) {
    const r = run(...args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.err[0] ?? '', /^barge options: /);
  }
  assert.equal(run('--help').code, 0);
});
