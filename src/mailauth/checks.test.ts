/**
 * The checks the worker runs, on a real spooled file: at most MAX_SIGNATURES DKIM signatures reach
 * the library whatever a message carries, the rest are one `dkim=policy`; the real worker gives the
 * same through the pool, and refuses to examine a header section over the limit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckPool } from './check-pool.js';
import { MAX_SIGNATURES, runChecks } from './checks.js';

const nothing = async (): Promise<never> => {
  throw Object.assign(new Error('no such name'), { code: 'ENOTFOUND' });
};

function signed(count: number, bodySize: number): Buffer {
  const sigs = Array.from(
    { length: count },
    (_, i) =>
      `DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=d${i}.example; s=s;\r\n\tl=${bodySize - i * 1000}; h=from; bh=AAAA; b=BBBB\r\n`,
  ).join('');
  const received = 'Received: from c.example by mx.example; Tue, 1 Dec 2026 10:00:00 +0000\r\n';
  const head = `${received}${sigs}From: a@sender.example\r\nSubject: s\r\n\r\n`;
  return Buffer.concat([Buffer.from(head), Buffer.alloc(bodySize, 'a line of the body\r\n')]);
}

async function withFile(bytes: Buffer, use: (path: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'barge-checks-'));
  try {
    await writeFile(join(dir, 'm'), bytes);
    await use(join(dir, 'm'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const request = (path: string) => ({
  path,
  facts: { clientIp: '192.0.2.1', helo: 'c.example', from: 'a@sender.example' },
  hostname: 'mx.example',
  maxHeaderBytes: 1 << 20,
});

test('100 signatures: the first 5 are verified, the other 95 reported as one dkim=policy', async () => {
  await withFile(signed(100, 300_000), async (path) => {
    const checked = await runChecks(request(path), nothing, new AbortController().signal);
    const dkim = checked.results.filter((r) => r.method === 'dkim');
    assert.equal(dkim.length, MAX_SIGNATURES + 1);
    assert.deepEqual(
      dkim.slice(0, MAX_SIGNATURES).map((r) => r.props.find(([n]) => n === 'header.i')?.[1]),
      ['@d0.example', '@d1.example', '@d2.example', '@d3.example', '@d4.example'],
    );
    assert.equal(dkim[MAX_SIGNATURES]?.result, 'policy');
    assert.match(dkim[MAX_SIGNATURES]?.comments[0] ?? '', /^95 more DKIM signatures not verified/);
    assert.deepEqual(
      checked.results.slice(MAX_SIGNATURES + 1).map((r) => `${r.method}=${r.result}`),
      ['spf=none', 'spf=none', 'dmarc=none'],
    );
  });
});

test('through the pool, in the real worker: the same results; a header section over the limit is not examined', async () => {
  const pool = new CheckPool({ resolver: nothing, maxParallel: () => 8 });
  try {
    await withFile(signed(100, 3_000_000), async (path) => {
      const outcome = await pool.run(request(path), 30_000);
      assert.equal(outcome.kind, 'done');
      if (outcome.kind !== 'done') return;
      assert.equal(outcome.results.results.filter((r) => r.method === 'dkim' && r.result !== 'policy').length, MAX_SIGNATURES);
    });
    await withFile(signed(12_000, 1000), async (path) => {
      const outcome = await pool.run({ ...request(path), maxHeaderBytes: 512 * 1024 }, 30_000);
      assert.deepEqual(outcome, { kind: 'failed', reason: `header section over ${512 * 1024 + 16 * 1024} octets not examined` });
    });
    assert.equal(pool.workersStarted, 1);
  } finally {
    await pool.close();
  }
});
