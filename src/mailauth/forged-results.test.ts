/**
 * Authentication-Results fields naming Barge are removed as the message streams, however they are
 * written and wherever they sit in the header section; everything else is kept byte for byte, and
 * the filter never holds more than a field's start.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authservId, ownResultsFilter } from './forged-results.js';
import { MAX_HELD } from './header-filter.js';

/** Runs bytes through the ingress filter in pieces of `size`; returns what went on and the most octets held at once. */
function filtered(
  bytes: Buffer,
  size: number,
  hostname = 'mx.example',
  max = 1024 * 1024,
): { out: string; held: number; overflowed: boolean } {
  const filter = ownResultsFilter(hostname, max);
  const out: Buffer[] = [];
  let held = 0;
  for (let i = 0; i < bytes.length; i += size) {
    filter.push(bytes.subarray(i, i + size), (b) => out.push(Buffer.from(b)));
    held = Math.max(held, filter.heldBytes);
  }
  filter.end((b) => out.push(Buffer.from(b)));
  return { out: Buffer.concat(out).toString('latin1'), held, overflowed: filter.overflowed };
}

test('authserv-id: after comments (nested, escaped) and folding, a token or a quoted-string', () => {
  const id = (v: string, complete = true): string | undefined => authservId(`Authentication-Results:${v}`, complete);
  assert.equal(id(' mx.example; spf=pass'), 'mx.example');
  assert.equal(id(' MX.Example. 1; spf=pass'), 'MX.Example.');
  assert.equal(id(' "mx.example"; spf=pass'), 'mx.example');
  assert.equal(id(' "mx\\.exa\\"mple"; spf=pass'), 'mx.exa"mple');
  assert.equal(id(' ((x)) mx.example; none'), 'mx.example');
  assert.equal(id(' (a \\) (b) c)\r\n\t mx.example(c);none'), 'mx.example');
  assert.equal(id(' mx.other.example; none'), 'mx.other.example');
  assert.equal(id(' (never closed mx.example; none'), undefined);
  assert.equal(id(' "never closed; none'), undefined);
  assert.equal(id(' mx.exam', false), undefined, 'a token at the end may go on in the next piece');
  assert.equal(id(' mx.exam', true), 'mx.exam');
});

test('every forgery form naming us is removed, other fields kept exactly, at any split of the stream', () => {
  const forged = [
    'Authentication-Results: mx.example; dkim=pass header.d=paypal.com\r\n',
    'authentication-results :  MX.EXAMPLE.;\r\n\tdkim=pass\r\n header.d=paypal.com\r\n',
    'Authentication-Results: "mx.example"; spf=pass\r\n',
    'Authentication-Results: ((x)) mx.example; dmarc=pass\r\n',
    'Authentication-Results: (a\r\n (b)) "MX.example." 1; dmarc=pass\r\n',
    'Authentication-Results:\r\n mx.example;\r\n dkim=pass\r\n',
    'Authentication-Results: (unclosed mx.example; dkim=pass\r\n',
    'Authentication-Results: ; dkim=pass\r\n',
  ];
  const kept = [
    'Received: from x\r\n\tby y; Tue, 1 Dec 2026 10:00:00 +0000\r\n',
    'Authentication-Results: mx.example.evil.example; spf=pass\r\n',
    'Authentication-Results: other.example (mx.example); spf=pass\r\n',
    'X-Authentication-Results: mx.example; spf=pass\r\n',
    'Subject: Authentication-Results: mx.example\r\n',
  ];
  const head = forged.flatMap((f, i) => [f, kept[i % kept.length] ?? '']).join('');
  const expected = forged.map((_, i) => kept[i % kept.length] ?? '').join('');
  const body = '\r\nAuthentication-Results: mx.example; in the body stays\r\n';
  const bytes = Buffer.from(head + body, 'latin1');
  for (const size of [1, 2, 3, 5, 17, 64, bytes.length]) {
    const { out } = filtered(bytes, size);
    assert.equal(out, expected + body, `pieces of ${size}`);
  }
});

test('a field naming us deep in a large header section is removed; only a bounded amount is ever held', () => {
  const padding = 'X-Padding: '.padEnd(998, 'p').concat('\r\n').repeat(400); // about 400 KB
  const forged = (method: string): string => `Authentication-Results: mx.example; ${method}=pass\r\n`;
  const head = `Subject: big\r\n${forged('dkim')}${padding}${forged('spf')}From: a@b.example\r\n`;
  const bytes = Buffer.from(`${head}\r\nbody\r\n`, 'latin1');
  for (const size of [997, 65_536]) {
    const { out, held } = filtered(bytes, size);
    assert.equal(out, `Subject: big\r\n${padding}From: a@b.example\r\n\r\nbody\r\n`);
    assert.ok(held <= 1000 + MAX_HELD && (size > 1000 || held > 0), `held ${held} octets in pieces of ${size}`);
  }
  // Comments that never end before MAX_HELD: the field is decided on its start, and removed.
  const hidden = Buffer.from(`Authentication-Results: (${'c'.repeat(3 * MAX_HELD)}) mx.example; dkim=pass\r\nSubject: s\r\n\r\n`);
  const { out, held } = filtered(hidden, 1000);
  assert.equal(out, 'Subject: s\r\n\r\n');
  assert.ok(held <= 1000 + MAX_HELD, `held ${held} octets`);
});

test('after a line that is no field the filter goes on to the empty line; the size limit counts the header section only', () => {
  const bytes = Buffer.from(
    'Subject: x\r\nnot a field\r\nAuthentication-Results: mx.example; dkim=pass\r\n\r\nAuthentication-Results: mx.example; body\r\n',
  );
  assert.equal(filtered(bytes, 7).out, 'Subject: x\r\nnot a field\r\n\r\nAuthentication-Results: mx.example; body\r\n');
  const headerless = Buffer.alloc(3 * 1024 * 1024, 'line of text without colon\r\n');
  assert.equal(filtered(headerless, 65_536, 'mx.example', 1024 * 1024).overflowed, false);
  const huge = Buffer.from(`${'X-Pad: y\r\n'.repeat(120_000)}\r\nbody`);
  assert.equal(filtered(huge, 65_536, 'mx.example', 1024 * 1024).overflowed, true);
  assert.equal(filtered(huge, 65_536, 'mx.example', 2 * 1024 * 1024).overflowed, false);
});
