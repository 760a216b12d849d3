/**
 * The inbound checks' DNS cache against a real DNS server on loopback (a minimal UDP responder that
 * counts questions), with an injected clock: answers are reused until their time runs out, "no
 * such name" is cached for less, and server failures are not cached.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { cachingResolver } from './dns-cache.js';
import { VirtualClock } from '../../test/support/virtual-clock.js';

/** Answers TXT questions for known.test with one string; anything else gets NXDOMAIN or SERVFAIL. */
async function responder(): Promise<{ server: string; asked: Map<string, number>; close(): void }> {
  const asked = new Map<string, number>();
  const socket = createSocket('udp4');
  socket.on('message', (q, from) => {
    let pos = 12;
    const labels: string[] = [];
    for (let len = q[pos] ?? 0; len > 0; len = q[pos] ?? 0) {
      labels.push(q.subarray(pos + 1, pos + 1 + len).toString('latin1'));
      pos += len + 1;
    }
    const question = q.subarray(12, pos + 5);
    const name = labels.join('.');
    asked.set(name, (asked.get(name) ?? 0) + 1);
    const rcode = name === 'known.test' ? 0 : name === 'broken.test' ? 2 : 3;
    const header = Buffer.from([q[0] ?? 0, q[1] ?? 0, 0x81, 0x80 | rcode, 0, 1, 0, rcode === 0 ? 1 : 0, 0, 0, 0, 0]);
    const text = Buffer.from('v=spf1 -all');
    const answer =
      rcode !== 0
        ? Buffer.alloc(0)
        : Buffer.concat([Buffer.from([0xc0, 12, 0, 16, 0, 1, 0, 0, 0x0e, 0x10, 0, text.length + 1, text.length]), text]);
    socket.send(Buffer.concat([header, question, answer]), from.port, from.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { server: `127.0.0.1:${socket.address().port}`, asked, close: () => socket.close() };
}

test('answers are cached for their time, NXDOMAIN for less, SERVFAIL not at all', async () => {
  const dns = await responder();
  const clock = new VirtualClock();
  const resolve = cachingResolver({ servers: [dns.server], positiveTtlMs: 300_000, negativeTtlMs: 60_000, clock, tries: 1 });
  try {
    assert.deepEqual(await resolve('known.test', 'TXT'), [['v=spf1 -all']]);
    await resolve('known.test', 'TXT');
    assert.equal(dns.asked.get('known.test'), 1);
    clock.advance(300_001);
    await resolve('known.test', 'TXT');
    assert.equal(dns.asked.get('known.test'), 2, 'asked again once the time ran out');

    await assert.rejects(resolve('missing.test', 'TXT'), { code: 'ENOTFOUND' });
    await assert.rejects(resolve('missing.test', 'TXT'), { code: 'ENOTFOUND' });
    assert.equal(dns.asked.get('missing.test'), 1);
    clock.advance(60_001);
    await assert.rejects(resolve('missing.test', 'TXT'), { code: 'ENOTFOUND' });
    assert.equal(dns.asked.get('missing.test'), 2);

    await assert.rejects(resolve('broken.test', 'TXT'), { code: 'ESERVFAIL' });
    await assert.rejects(resolve('broken.test', 'TXT'), { code: 'ESERVFAIL' });
    assert.equal(dns.asked.get('broken.test'), 2, 'a failure is asked again');
  } finally {
    dns.close();
  }
});
