import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BdatFramer, type FramePiece } from './bdat-framer.js';

/** Headers, and each chunk's bytes joined, for comparison. */
function frame(framer: BdatFramer, inputs: readonly string[]): { headers: string[]; chunks: string[]; ends: string[] } | undefined {
  const pieces: FramePiece[] = [];
  for (const i of inputs) {
    const p = framer.push(Buffer.from(i));
    if (p === undefined) return undefined;
    pieces.push(...p);
  }
  const tail = framer.end();
  if (tail === undefined) return undefined;
  pieces.push(...tail);
  const headers: string[] = [];
  const chunks: string[] = [];
  const ends: string[] = [];
  let current = '';
  for (const p of pieces) {
    if (p.kind === 'header') headers.push(p.header);
    else if (p.kind === 'bytes') current += p.data.toString();
    else {
      chunks.push(current);
      current = '';
      ends.push(p.last ? 'last' : p.check ? 'check' : 'chunk');
    }
  }
  return { headers, chunks, ends };
}

test('exact size: chunk lengths known up front, LAST on the chunk that completes the size, whatever the input pieces', () => {
  assert.deepEqual(frame(new BdatFramer(4, 10, undefined), ['abc', 'defgh', 'ij']), {
    headers: ['BDAT 4', 'BDAT 4', 'BDAT 2 LAST'],
    chunks: ['abcd', 'efgh', 'ij'],
    ends: ['chunk', 'chunk', 'last'],
  });
  assert.deepEqual(frame(new BdatFramer(4, 8, undefined), ['abcdefgh'])?.headers, ['BDAT 4', 'BDAT 4 LAST']);
  assert.deepEqual(frame(new BdatFramer(4, 0, undefined), [])?.headers, ['BDAT 0 LAST']);
  assert.deepEqual(frame(new BdatFramer(100, 10, 3), ['abcdefghij']), {
    headers: ['BDAT 3', 'BDAT 7 LAST'],
    chunks: ['abc', 'defghij'],
    ends: ['check', 'last'],
  });
  const short = frame(new BdatFramer(100, 3, 3), ['abc'])?.headers;
  assert.deepEqual(short, ['BDAT 2', 'BDAT 1 LAST'], 'all but the last octet checks short content');
  assert.deepEqual(frame(new BdatFramer(100, 1, 3), ['a'])?.headers, ['BDAT 1 LAST'], 'one octet cannot be split');
  assert.equal(frame(new BdatFramer(4, 3, undefined), ['abcd']), undefined, 'longer than recorded');
  assert.equal(frame(new BdatFramer(4, 5, undefined), ['abcd']), undefined, 'shorter than recorded');
});

test('unknown size (converted content): a chunk goes once more content follows; the end is marked at end()', () => {
  assert.deepEqual(frame(new BdatFramer(4, undefined, undefined), ['abc', 'defgh', 'ij']), {
    headers: ['BDAT 4', 'BDAT 4', 'BDAT 2 LAST'],
    chunks: ['abcd', 'efgh', 'ij'],
    ends: ['chunk', 'chunk', 'last'],
  });
  assert.deepEqual(frame(new BdatFramer(4, undefined, undefined), ['abcd', 'efgh'])?.headers, ['BDAT 4', 'BDAT 4 LAST']);
  assert.deepEqual(frame(new BdatFramer(4, undefined, undefined), [])?.headers, ['BDAT 0 LAST']);
  assert.deepEqual(frame(new BdatFramer(100, undefined, 2), ['abcdef'])?.ends, ['check', 'last']);
});

test('the check chunk: 4 KiB, or all but the last octet of a smaller message; none for 1 octet', () => {
  const first = (size: number): string | undefined => frame(new BdatFramer(1_048_576, size, 4096), ['x'.repeat(size)])?.headers[0];
  assert.equal(first(2_000_000), 'BDAT 4096');
  assert.equal(first(4097), 'BDAT 4096');
  assert.equal(first(4096), 'BDAT 4095');
  assert.equal(first(300), 'BDAT 299');
  assert.equal(first(2), 'BDAT 1');
  assert.equal(first(1), 'BDAT 1 LAST');
  const big = frame(new BdatFramer(1_048_576, 2_000_000, 4096), ['x'.repeat(2_000_000)])?.headers;
  assert.deepEqual(big, ['BDAT 4096', 'BDAT 1048576', 'BDAT 947328 LAST']);
});
