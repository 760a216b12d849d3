/** The probe's verdicts from hand-built observations: each verdict, its exit code, priority and words. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VERDICTS, exitCodeFor, isMaskedBanner, judge, type Observations, type Verdict } from './verdict.js';

const TLS_OK = { state: 'ok', protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384', authorized: true } as const;

/** A clean path: CHUNKING, STARTTLS, a fast 250 to the chunk and 354 to DATA. */
const CLEAN: Observations = {
  target: 'mx.example:25',
  host: 'mx.example',
  port: 25,
  rcpt: 'postmaster',
  slowChunkMs: 2000,
  banner: '220 mx.example ESMTP',
  keywords: ['PIPELINING', 'CHUNKING', 'STARTTLS', 'SIZE 10000000'],
  chunking: true,
  tls: TLS_OK,
  bdat: { advertised: true, outcome: 'ok', ms: 12, detail: '250 2.0.0 OK' },
  data: { ok: true, ms: 3, detail: '354 go ahead' },
};
const NO_CHUNKING: Observations = { ...CLEAN, keywords: ['PIPELINING', 'STARTTLS'], chunking: false, bdat: undefined };
const MASKED: Observations = { ...NO_CHUNKING, keywords: ['XXXXXXXA', 'PIPELINING', 'STARTTLS'] };

const CASES: ReadonlyArray<{ readonly name: string; readonly obs: Observations; readonly verdict: Verdict; readonly words: RegExp }> = [
  {
    name: 'connection refused',
    obs: { ...CLEAN, unreachable: 'could not connect (ECONNREFUSED)', banner: undefined },
    verdict: 'unreachable',
    words: /Could not probe mx\.example:25: could not connect \(ECONNREFUSED\)/,
  },
  {
    name: 'BDAT black-holed',
    obs: { ...CLEAN, bdat: { advertised: true, outcome: 'timeout', ms: 10000, detail: 'no reply within 10000 ms' } },
    verdict: 'bdat-dropped',
    words: /^CHUNKING is advertised but BDAT is dropped on this path .*ESMTP-inspecting device is likely.*chunking = "never"/,
  },
  {
    name: 'BDAT black-holed behind masked keywords',
    obs: { ...MASKED, bdat: { advertised: false, outcome: 'timeout', ms: 500, detail: 'no reply within 500 ms' } },
    verdict: 'bdat-dropped',
    words: /masked \(XXXXXXXA\) and BDAT is dropped/,
  },
  {
    name: 'reset after BDAT',
    obs: { ...CLEAN, bdat: { advertised: true, outcome: 'reset', ms: 4, detail: 'connection closed by the peer' } },
    verdict: 'bdat-reset',
    words: /closed right after BDAT \(connection closed by the peer\)/,
  },
  {
    name: 'BDAT refused although advertised',
    obs: { ...CLEAN, bdat: { advertised: true, outcome: 'refused', ms: 2, detail: '502 5.5.1 no' } },
    verdict: 'bdat-refused',
    words: /CHUNKING is advertised but BDAT was refused \(502 5\.5\.1 no\)/,
  },
  {
    name: 'masked keywords, BDAT answered 500 by the path',
    obs: { ...MASKED, bdat: { advertised: false, outcome: 'refused', ms: 2, detail: '500 5.5.1 Command unrecognized' } },
    verdict: 'bdat-refused',
    words: /masked \(XXXXXXXA\) and BDAT is answered by the path \(500 5\.5\.1 Command unrecognized\)/,
  },
  {
    name: 'masked keywords',
    obs: MASKED,
    verdict: 'keywords-masked',
    words: /^EHLO keywords are masked \(XXXXXXXA\): a firewall's ESMTP inspection is rewriting the reply\. Turn it off, or pin DATA/,
  },
  {
    name: 'slow chunk',
    obs: { ...CLEAN, bdat: { advertised: true, outcome: 'ok', ms: 2500, detail: '250 2.0.0 OK' } },
    verdict: 'chunks-delayed',
    words: /answered only after 2\.5 s \(limit 2 s\).*tarpitting/,
  },
  {
    name: 'DATA not accepted',
    obs: { ...CLEAN, data: { ok: false, ms: 10000, detail: 'no reply within 10000 ms' } },
    verdict: 'data-failed',
    words: /DATA was not \(no reply within 10000 ms\)/,
  },
  {
    name: 'starred banner',
    obs: { ...CLEAN, banner: '220 ******************' },
    verdict: 'banner-masked',
    words: /banner is masked \(220 \*+\)/,
  },
  {
    name: 'TLS handshake failed',
    obs: { ...CLEAN, tls: { state: 'failed', error: 'TLS handshake failed: ECONNRESET' } },
    verdict: 'starttls-failed',
    words: /STARTTLS is offered but failed \(TLS handshake failed: ECONNRESET\)/,
  },
  {
    name: 'no STARTTLS',
    obs: { ...CLEAN, keywords: ['CHUNKING'], tls: { state: 'not-offered' } },
    verdict: 'no-starttls',
    words: /cleartext.*strips it/,
  },
  {
    name: 'recipient refused',
    obs: { ...CLEAN, bdat: undefined, data: undefined, envelopeRefused: 'RCPT TO:<postmaster> -> 550 5.1.1 no such user' },
    verdict: 'rcpt-refused',
    words: /Could not test the path.*550 5\.1\.1 no such user.*--rcpt ADDRESS/,
  },
  { name: 'no CHUNKING', obs: NO_CHUNKING, verdict: 'no-chunking', words: /does not offer CHUNKING: Barge will use DATA/ },
  { name: 'clean', obs: CLEAN, verdict: 'clean', words: /^The path is clean: .*answered in 12 ms\. Barge will use BDAT/ },
];

test('every verdict has a case, and each case gets its verdict, words and exit code', () => {
  assert.deepEqual([...new Set(CASES.map((c) => c.verdict))].sort(), [...VERDICTS].sort());
  for (const c of CASES) {
    const j = judge(c.obs);
    assert.equal(j.verdict, c.verdict, c.name);
    assert.equal(j.findings[0], c.verdict, c.name);
    assert.match(j.text, c.words, c.name);
    assert.equal(j.texts[0], j.text, c.name);
    assert.equal(j.exitCode, exitCodeFor(c.verdict), c.name);
  }
});

test('exit codes: 2 unreachable, 0 clean and no-chunking, 1 everything else', () => {
  const codes = Object.fromEntries(VERDICTS.map((v) => [v, exitCodeFor(v)]));
  assert.deepEqual(codes, {
    unreachable: 2,
    'bdat-dropped': 1,
    'bdat-reset': 1,
    'bdat-refused': 1,
    'keywords-masked': 1,
    'chunks-delayed': 1,
    'data-failed': 1,
    'banner-masked': 1,
    'starttls-failed': 1,
    'no-starttls': 1,
    'rcpt-refused': 1,
    'no-chunking': 0,
    clean: 0,
  });
});

test('findings list every problem in priority order; clean and no-chunking only when there is none', () => {
  const all = judge({
    ...MASKED,
    banner: '220 ****',
    tls: { state: 'not-offered' },
    bdat: { advertised: false, outcome: 'refused', ms: 1, detail: '500 5.5.1 unknown' },
    data: { ok: false, ms: 1, detail: '451 4.3.0 busy' },
    envelopeRefused: 'RCPT TO:<postmaster> -> 450 try later',
  });
  assert.deepEqual(all.findings, ['bdat-refused', 'keywords-masked', 'data-failed', 'banner-masked', 'no-starttls', 'rcpt-refused']);
  assert.equal(all.texts.length, all.findings.length);
  assert.match(all.texts[3] ?? '', /banner is masked \(220 \*\*\*\*\)/);
  // Unreachable hides everything else: nothing past the greeting was tested.
  const down = judge({ ...MASKED, banner: '220 ****', unreachable: 'no banner (no reply within 10000 ms)' });
  assert.deepEqual(down.findings, ['unreachable']);
  assert.equal(down.usesBdat, false);
});

test('usesBdat: only CHUNKING offered and the chunk answered 250, even when slow', () => {
  assert.equal(judge(CLEAN).usesBdat, true);
  assert.equal(judge({ ...CLEAN, bdat: { advertised: true, outcome: 'ok', ms: 9000, detail: '250 OK' } }).usesBdat, true);
  assert.equal(judge({ ...CLEAN, bdat: { advertised: true, outcome: 'timeout', ms: 10000, detail: 'x' } }).usesBdat, false);
  // Masked keywords: BDAT works, but Barge never sees CHUNKING, so it sends DATA.
  assert.equal(judge({ ...MASKED, bdat: { advertised: false, outcome: 'ok', ms: 1, detail: '250 OK' } }).usesBdat, false);
  assert.equal(judge(NO_CHUNKING).usesBdat, false);
});

test('a chunk answered exactly at the slow-chunk limit is not delayed', () => {
  assert.equal(judge({ ...CLEAN, bdat: { advertised: true, outcome: 'ok', ms: 2000, detail: '250 OK' } }).verdict, 'clean');
  assert.equal(judge({ ...CLEAN, bdat: { advertised: true, outcome: 'ok', ms: 2001, detail: '250 OK' } }).verdict, 'chunks-delayed');
});

test('with TLS left alone (--no-tls), a missing STARTTLS is not judged', () => {
  assert.equal(judge({ ...CLEAN, tls: { state: 'skipped', offered: false } }).verdict, 'clean');
  assert.equal(judge({ ...NO_CHUNKING, tls: { state: 'skipped', offered: true } }).verdict, 'no-chunking');
});

test('a BDAT error from a server that never offered CHUNKING, with nothing masked, blames nothing', () => {
  const j = judge({ ...NO_CHUNKING, bdat: { advertised: false, outcome: 'refused', ms: 1, detail: '502 5.5.1 unknown' } });
  assert.equal(j.verdict, 'no-chunking');
});

test('the route suggestion names the recipient domain and brackets an IPv6 next hop', () => {
  const j = judge({ ...MASKED, host: '2001:db8::25', port: 2525, rcpt: 'postmaster@example.org' });
  assert.match(j.text, /\[routes\] "example\.org" = \{ next_hop = "\[2001:db8::25\]:2525", chunking = "never" \}$/);
  assert.match(judge(MASKED).text, /"example\.com" = \{ next_hop = "mx\.example:25"/);
});

test('masked banners: empty or stars (with PIX-style digits); a normal banner is not', () => {
  for (const b of ['220 ****', '220', '220 ', '220 ***********2*0*0***0*0**', '220-****']) assert.equal(isMaskedBanner(b), true, b);
  for (const b of ['220 mx.example ESMTP', '220 2.0.0 ready', '220 mx * ready', '220 12345']) assert.equal(isMaskedBanner(b), false, b);
});
