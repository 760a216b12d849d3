/** The read pacer: a young-generation collection per megabyte read, none below that. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GCProfiler } from 'node:v8';
import { readPacer } from './read-pacer.js';
import { TUNING } from '../app/tuning.js';

function scavengesDuring(work: () => void): number {
  const profiler = new GCProfiler();
  profiler.start();
  work();
  return profiler.stop()?.statistics.filter((s) => s.gcType === 'Scavenge').length ?? 0;
}

test('at the tuned quota (1 MB), every megabyte read (in 64 KB reads) brings one young-generation collection; less brings none', () => {
  const paceRead = readPacer(TUNING.collectAfterReadOctets);
  const read = (octets: number): void => {
    for (let done = 0; done < octets; done += 64 * 1024) paceRead(64 * 1024);
  };
  assert.ok(scavengesDuring(() => read(3 * 1024 * 1024)) >= 3);
  // The loop allocates nothing, so no collection happens unless the pacer asks for one.
  assert.equal(
    scavengesDuring(() => read(512 * 1024)),
    0,
  );
});

test('a quota of 0 never collects', () => {
  const paceRead = readPacer(0);
  assert.equal(
    scavengesDuring(() => {
      for (let done = 0; done < 4 * 1024 * 1024; done += 64 * 1024) paceRead(64 * 1024);
    }),
    0,
  );
});
