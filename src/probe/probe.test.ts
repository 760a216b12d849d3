/**
 * The probe over real loopback sockets: against the scriptable fake peer (each fault in turn), a
 * STARTTLS-capable peer with a throwaway self-signed certificate, a real Barge, and a closed port
 * through the command line.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { fakePeer, type FakePeer, type PeerBehaviour } from '../../test/support/fake-peer.js';
import { startBarge, tempDir } from '../../test/support/barge.js';
import { probePath, PROBE_CHUNK, type ProbeOptions, type ProbeReport } from './probe.js';
import { runProbe } from '../cli/probe.js';

let peer: FakePeer;
before(async () => {
  peer = await fakePeer();
});
after(async () => peer.close());

/** Probes the shared fake peer with `behaviour`; TLS is left alone since the fake peer has none. */
async function probeFake(behaviour: PeerBehaviour, options: Partial<ProbeOptions> = {}): Promise<ProbeReport> {
  peer.behaviour = behaviour;
  const before = peer.received.length;
  const report = await probePath({ host: '127.0.0.1', port: peer.port, helo: 'probe.test', tls: false, timeoutMs: 2000, ...options });
  assert.equal(peer.received.length, before, 'the probe must never complete a message');
  return report;
}
const stepsNamed = (r: ProbeReport, name: string): ProbeReport['steps'] => r.steps.filter((s) => s.step === name);

test('a clean peer with CHUNKING: one 64-octet chunk answered 250, RSET, then DATA answered 354 on a second connection', async () => {
  const r = await probeFake({});
  assert.equal(PROBE_CHUNK.length, 64);
  assert.equal(r.verdict, 'clean');
  assert.equal(r.exitCode, 0);
  assert.equal(r.usesBdat, true);
  assert.deepEqual(r.findings, ['clean']);
  assert.equal(r.banner, '220 fake.test ESMTP');
  assert.ok(r.keywords.includes('CHUNKING'));
  assert.deepEqual(r.maskedKeywords, []);
  assert.deepEqual(r.tls, { state: 'skipped', offered: false });
  assert.deepEqual(
    r.steps.map((s) => `${s.step}:${s.reply?.code ?? s.error ?? '-'}`),
    [
      'connect:-',
      'banner:220',
      'ehlo:250',
      'mail:250',
      'rcpt:250',
      'bdat:250',
      'rset:250',
      'second mail:250',
      'second rcpt:250',
      'second bdat:250',
      'rset:250',
      'quit:221',
      'data-test connect:-',
      'data-test banner:220',
      'data-test ehlo:250',
      'data-test mail:250',
      'data-test rcpt:250',
      'data-test data:354',
    ],
  );
  assert.equal(stepsNamed(r, 'bdat')[0]?.command, 'BDAT 64 (+64 octets)');
  assert.equal(stepsNamed(r, 'mail')[0]?.command, 'MAIL FROM:<>');
  assert.equal(stepsNamed(r, 'rcpt')[0]?.command, 'RCPT TO:<postmaster>');
  for (const s of r.steps) assert.ok(Number.isInteger(s.ms) && s.ms >= 0 && s.ms < 2000, `${s.step} ${s.ms}`);
});

test('BDAT met by silence is a black hole: bdat-dropped after the step timeout', async () => {
  const r = await probeFake({ content: () => 'silent' }, { timeoutMs: 500 });
  assert.equal(r.verdict, 'bdat-dropped');
  assert.equal(r.exitCode, 1);
  assert.equal(r.usesBdat, false);
  const bdat = stepsNamed(r, 'bdat')[0];
  assert.equal(bdat?.error, 'no reply within 500 ms');
  assert.ok((bdat?.ms ?? 0) >= 450, String(bdat?.ms));
  // The connection is abandoned, not reused: no RSET could be trusted after a lost reply.
  assert.equal(stepsNamed(r, 'rset').length, 0);
  assert.match(r.text, /CHUNKING is advertised but BDAT is dropped on this path/);
  // The fake peer is silent at DATA too, which the probe reports as well.
  assert.deepEqual(r.findings, ['bdat-dropped', 'data-failed']);
});

test('a connection closed after BDAT is bdat-reset', async () => {
  const r = await probeFake({ content: () => 'reset' });
  assert.equal(r.verdict, 'bdat-reset');
  assert.equal(r.exitCode, 1);
  assert.match(stepsNamed(r, 'bdat')[0]?.error ?? '', /closed by the peer|reset/);
  assert.equal(r.usesBdat, false);
});

test('BDAT refused although CHUNKING is advertised is bdat-refused', async () => {
  const r = await probeFake({ content: () => '502 5.5.1 no' });
  assert.equal(r.verdict, 'bdat-refused');
  assert.equal(stepsNamed(r, 'bdat')[0]?.reply?.text, '502 5.5.1 no');
  assert.match(r.text, /BDAT was refused \(502 5\.5\.1 no\)/);
  assert.equal(r.usesBdat, false);
});

test('masked keywords: BDAT is tried anyway although CHUNKING is not visible; the verdict is keywords-masked', async () => {
  const r = await probeFake({ keywords: ['XXXXXXXA', 'PIPELINING', '8BITMIME'] });
  assert.equal(r.verdict, 'keywords-masked');
  assert.deepEqual(r.maskedKeywords, ['XXXXXXXA']);
  assert.equal(stepsNamed(r, 'bdat')[0]?.reply?.code, 250);
  assert.equal(r.usesBdat, false, 'Barge sees no CHUNKING, so it would send DATA');
  assert.match(r.text, /EHLO keywords are masked \(XXXXXXXA\)/);
});

test('no CHUNKING: no BDAT is sent, the verdict is no-chunking, exit 0', async () => {
  const r = await probeFake({ keywords: ['PIPELINING', '8BITMIME'] });
  assert.equal(r.verdict, 'no-chunking');
  assert.equal(r.exitCode, 0);
  assert.equal(stepsNamed(r, 'bdat').length, 0);
  assert.equal(stepsNamed(r, 'data-test data')[0]?.reply?.code, 354);
  assert.equal(r.usesBdat, false);
});

test('a server that refuses EHLO is greeted with HELO and has no keywords', async () => {
  const r = await probeFake({ noEhlo: true });
  assert.equal(stepsNamed(r, 'helo')[0]?.reply?.code, 250);
  assert.deepEqual(r.keywords, []);
  assert.equal(r.verdict, 'no-chunking');
});

test('a refused probe recipient is rcpt-refused (not blamed on the path), and the DATA test is skipped', async () => {
  const r = await probeFake({ rcpt: () => '550 5.1.1 no such user' }, { rcpt: 'nobody@fake.test', from: 'probe@probe.test' });
  assert.equal(r.verdict, 'rcpt-refused');
  assert.equal(stepsNamed(r, 'mail')[0]?.command, 'MAIL FROM:<probe@probe.test>');
  assert.equal(stepsNamed(r, 'bdat').length, 0);
  assert.equal(r.steps.filter((s) => s.step.startsWith('data-test')).length, 0);
  assert.match(r.text, /RCPT TO:<nobody@fake\.test> -> 550 5\.1\.1 no such user.*--rcpt/);
});

test('with TLS on, a peer without STARTTLS is no-starttls', async () => {
  const r = await probeFake({}, { tls: true });
  assert.equal(r.verdict, 'no-starttls');
  assert.deepEqual(r.tls, { state: 'not-offered' });
  assert.equal(r.usesBdat, true, 'the BDAT test itself passed');
});

/** A minimal STARTTLS server: 'good' does TLS; 'broken' answers 220 to STARTTLS, then sends no TLS. */
async function tlsPeer(
  mode: 'good' | 'broken',
  key: Buffer,
  cert: Buffer,
): Promise<{ port: number; log: string[]; close(): Promise<void> }> {
  const log: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((raw) => {
    sockets.add(raw);
    raw.on('error', () => raw.destroy());
    let socket: Socket = raw;
    let secure = false;
    let buf = '';
    let chunk = 0;
    const say = (text: string): void => void socket.write(`${text}\r\n`);
    const onData = (bytes: Buffer): void => {
      buf += bytes.toString('latin1');
      for (;;) {
        if (chunk > 0) {
          const take = Math.min(chunk, buf.length);
          buf = buf.slice(take);
          chunk -= take;
          if (chunk > 0) return;
          say('250 2.0.0 chunk taken');
          continue;
        }
        const lf = buf.indexOf('\n');
        if (lf < 0) return;
        const line = buf.slice(0, lf).replace(/\r$/, '');
        buf = buf.slice(lf + 1);
        log.push(`${secure ? 'tls' : 'plain'} ${line}`);
        const verb = line.split(' ')[0]?.toUpperCase();
        if (verb === 'EHLO') say(['250-tls.test', ...(secure ? [] : ['250-STARTTLS']), '250-CHUNKING', '250 PIPELINING'].join('\r\n'));
        else if (verb === 'STARTTLS') {
          say('220 2.0.0 go ahead');
          raw.off('data', onData);
          if (mode === 'broken') return void raw.end('this is not a TLS record\r\n');
          const t = new TLSSocket(raw, { isServer: true, key, cert });
          t.on('error', () => raw.destroy()).on('data', onData);
          socket = t;
          secure = true;
          buf = '';
          return;
        } else if (verb === 'BDAT') chunk = Number(line.split(' ')[1]);
        else if (verb === 'DATA') say('354 go ahead');
        else if (verb === 'QUIT') {
          say('221 bye');
          socket.end();
        } else say('250 OK');
      }
    };
    raw.on('data', onData);
    say('220 tls.test ESMTP');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    log,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A throwaway self-signed certificate for the TLS peer (openssl is a test prerequisite, like Exim). */
async function selfSigned(): Promise<{ key: Buffer; cert: Buffer }> {
  const dir = await tempDir('barge-probe-cert-');
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=mx.probe.test',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('STARTTLS: the probe upgrades, records protocol and an unverified self-signed certificate, and tests over TLS', async () => {
  const { key, cert } = await selfSigned();
  const server = await tlsPeer('good', key, cert);
  try {
    const r = await probePath({ host: '127.0.0.1', port: server.port, helo: 'probe.test', timeoutMs: 2000 });
    assert.equal(r.tls.state, 'ok');
    if (r.tls.state !== 'ok') return;
    assert.match(r.tls.protocol, /^TLSv1\.[23]$/);
    assert.ok(r.tls.cipher.length > 0);
    assert.equal(r.tls.authorized, false);
    assert.equal(r.tls.authorizationError, 'DEPTH_ZERO_SELF_SIGNED_CERT');
    assert.equal(r.verdict, 'clean');
    assert.ok(r.keywords.includes('STARTTLS'), 'keywords are the cleartext EHLO');
    // EHLO is repeated over TLS (RFC 3207 4.2), and both tests run inside TLS.
    for (const line of ['tls EHLO probe.test', 'tls MAIL FROM:<>', 'tls BDAT 64', 'tls RSET', 'tls DATA'])
      assert.ok(server.log.includes(line), line);
    assert.equal(server.log.filter((l) => l === 'plain STARTTLS').length, 2, 'one STARTTLS per connection');
    assert.deepEqual(
      stepsNamed(r, 'tls').map((s) => s.error ?? 'ok'),
      ['ok'],
    );
  } finally {
    await server.close();
  }
});

test('a failed TLS handshake is starttls-failed, and the probe goes on over a new cleartext connection', async () => {
  const { key, cert } = await selfSigned();
  const server = await tlsPeer('broken', key, cert);
  try {
    const r = await probePath({ host: '127.0.0.1', port: server.port, helo: 'probe.test', timeoutMs: 2000 });
    assert.equal(r.tls.state, 'failed');
    assert.equal(r.verdict, 'starttls-failed');
    assert.match(r.text, /STARTTLS is offered but failed/);
    assert.ok(stepsNamed(r, 'tls')[0]?.error !== undefined);
    assert.equal(stepsNamed(r, 'connect').length, 2);
    assert.equal(stepsNamed(r, 'bdat')[0]?.reply?.code, 250);
    assert.ok(server.log.includes('plain BDAT 64'));
    // The DATA test does not try TLS again.
    assert.equal(server.log.filter((l) => l === 'plain STARTTLS').length, 1);
    assert.equal(r.usesBdat, true);
  } finally {
    await server.close();
  }
});

test('a real Barge: clean (or no-starttls without TLS on its listener), and nothing queued or delivered', async () => {
  const barge = await startBarge('', {});
  try {
    const r = await probePath({ host: '127.0.0.1', port: barge.port, helo: 'probe.test', rcpt: 'postmaster@barge.test', timeoutMs: 5000 });
    assert.ok(r.keywords.includes('CHUNKING'));
    assert.equal(stepsNamed(r, 'bdat')[0]?.reply?.code, 250);
    assert.equal(stepsNamed(r, 'rset')[0]?.reply?.code, 250);
    assert.equal(stepsNamed(r, 'data-test data')[0]?.reply?.code, 354);
    assert.equal(r.usesBdat, true);
    // A Barge listener with TLS offers STARTTLS with a self-signed certificate by default, which the
    // probe takes (opportunistic TLS does not verify) and then finds nothing wrong: 'clean'. A build
    // whose listener has no TLS is cleartext only, and the probe must say so: 'no-starttls'.
    if (r.keywords.includes('STARTTLS')) {
      assert.equal(r.tls.state, 'ok');
      assert.equal(r.verdict, 'clean');
    } else {
      assert.deepEqual(r.tls, { state: 'not-offered' });
      assert.equal(r.verdict, 'no-starttls');
    }
    const plain = await probePath({ host: '127.0.0.1', port: barge.port, helo: 'probe.test', rcpt: 'postmaster@barge.test', tls: false });
    assert.equal(plain.verdict, 'clean');
    assert.equal(stepsNamed(plain, 'starttls').length, 0);
    // Give a wrongly completed message time to reach the spool or the mailbox.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(await barge.server.spool.list(), []);
    assert.deepEqual(await barge.mailbox('postmaster@barge.test'), []);
    const events = await barge.tracking();
    assert.deepEqual(
      events.filter((e) => e.event !== 'rejected'),
      [],
      'no message received',
    );
    // Both tests reached the server and were abandoned there: the chunk by RSET, DATA by the close.
    const methods = new Set(events.map((e) => (e.event === 'rejected' ? e.method : '')));
    assert.ok(methods.has('BDAT') && methods.has('DATA'), JSON.stringify(events));
  } finally {
    await barge.stop();
  }
});

test('runProbe: a closed port is unreachable with exit 2; --json prints one object', async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const address = closed.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const out: string[] = [];
  const err: string[] = [];
  assert.equal(
    await runProbe(
      [`127.0.0.1:${port}`],
      (l) => out.push(l),
      (l) => err.push(l),
    ),
    2,
  );
  assert.ok(out.includes('verdict: unreachable'), out.join('\n'));
  assert.ok(
    out.some((l) => /Could not probe 127\.0\.0\.1:\d+: could not connect \(ECONNREFUSED\)/.test(l)),
    out.join('\n'),
  );
  const json: string[] = [];
  assert.equal(
    await runProbe(
      [`127.0.0.1:${port}`, '--json'],
      (l) => json.push(l),
      () => undefined,
    ),
    2,
  );
  assert.equal(json.length, 1);
  const parsed = JSON.parse(json[0] ?? '') as Record<string, unknown>;
  assert.deepEqual(
    Object.keys(parsed).sort(),
    ['banner', 'exitCode', 'findings', 'host', 'keywords', 'maskedKeywords', 'port', 'steps', 'text', 'tls', 'usesBdat', 'verdict'].sort(),
  );
  assert.equal(parsed.verdict, 'unreachable');
  assert.equal(parsed.port, port);
});

test('runProbe against the fake peer: human lines, exit code of the verdict, masked keywords marked', async () => {
  peer.behaviour = { keywords: ['XXXXXXXA', 'PIPELINING'] };
  const out: string[] = [];
  const code = await runProbe(
    [`127.0.0.1:${peer.port}`, '--no-tls', '--timeout', '2', '--helo', 'cli.probe.test'],
    (l) => out.push(l),
    () => undefined,
  );
  assert.equal(code, 1);
  assert.ok(out.includes('keywords: XXXXXXXA [masked], PIPELINING, HELP'), out.join('\n'));
  assert.ok(
    out.some((l) => /^ {2}ehlo +EHLO cli\.probe\.test +250 fake\.test/.test(l)),
    out.join('\n'),
  );
  assert.ok(out.includes('verdict: keywords-masked'));
  peer.behaviour = {};
  assert.equal(
    await runProbe(
      [`127.0.0.1:${peer.port}`, '--no-tls', '--json'],
      () => undefined,
      () => undefined,
    ),
    0,
  );
});

test('a server that accepts the connection but never greets is unreachable (no banner)', async () => {
  const held = new Set<import('node:net').Socket>();
  const mute = createServer((socket) => {
    held.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve));
  const address = mute.address();
  try {
    const r = await probePath({
      host: '127.0.0.1',
      port: typeof address === 'object' && address !== null ? address.port : 0,
      helo: 'probe.test',
      timeoutMs: 300,
    });
    assert.equal(r.verdict, 'unreachable');
    assert.equal(r.exitCode, 2);
    assert.deepEqual(r.findings, ['unreachable']);
    assert.match(r.text, /no banner \(no reply within 300 ms\)/);
    assert.deepEqual(
      r.steps.map((s) => s.step),
      ['connect', 'banner'],
    );
  } finally {
    for (const socket of held) socket.destroy();
    await new Promise<void>((resolve) => mute.close(() => resolve()));
  }
});

test('runProbe: bad arguments exit 2 with usage (HOST[:PORT] forms: protocol/host-port.test.ts)', async () => {
  for (const args of [
    [],
    ['a', 'b'],
    ['host:99999'],
    ['host', '--timeout', 'x'],
    ['host', '--slow-chunk', '0'],
    ['host', '--bogus'],
    ['host', '--rcpt', '<a@b>'],
  ]) {
    const err: string[] = [];
    assert.equal(
      await runProbe(
        args,
        () => undefined,
        (l) => err.push(l),
      ),
      2,
      args.join(' '),
    );
    assert.match(err.join('\n'), /usage: barge probe HOST\[:PORT\]/, args.join(' '));
  }
  for (const args of [['host:0'], ['a:b:c']])
    assert.equal(
      await runProbe(
        args,
        () => undefined,
        () => undefined,
      ),
      2,
      args.join(' '),
    );
});
