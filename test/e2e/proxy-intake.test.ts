/**
 * The PROXY header on a real socket, byte by byte as a balancer might send it: the greeting waits
 * for the whole header, bytes after it reach the session (or the TLS handshake) intact, LOCAL means
 * the socket's own address, and every refusal (outside proxy_from, no header, a garbled or oversize
 * one, silence past the 5 s wait) closes without a greeting and is logged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { RawSmtp } from '../support/raw-client.js';
import { eventually, startBarge, type TestBarge } from '../support/barge.js';
import { VirtualClock } from '../support/virtual-clock.js';
import { parseW3cLog } from '../../src/log/w3c.js';
import type { ServerDeps } from '../../src/server/running.js';

const FIELDS = '[log]\nw3c_fields = ["time", "c-ip", "cs-method", "cs-uri-query", "sc-status"]';
const V2_SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

function proxied(listener = '', deps: ServerDeps = {}): Promise<TestBarge> {
  return startBarge(`${FIELDS}\n[listener.smtp]\nproxy_protocol = true\nproxy_from = ["127.0.0.1/32"]\n${listener}`, {}, undefined, deps);
}

const ehloAddress = (lines: readonly string[]): string | undefined => /\[([^\]]+)\]/.exec(lines[0] ?? '')?.[1];

test("the greeting waits for the whole header; bytes after it in the same segment are the session's, intact", async () => {
  const barge = await proxied();
  try {
    const c = await RawSmtp.connect(barge.port);
    await c.send('PROXY TCP4 192.0.2.7 ');
    await assert.rejects(c.reply(300), /no reply within/, 'no greeting before the header is complete');
    await c.send('198.51.100.1 50000 25\r');
    await assert.rejects(c.reply(300), /no reply within/);
    await c.send('\nEHLO client.test\r\nNOOP\r\n');
    assert.equal((await c.reply()).code, 220);
    const ehlo = await c.reply();
    assert.equal(ehlo.code, 250);
    assert.equal(ehloAddress(ehlo.lines), '192.0.2.7');
    assert.equal((await c.reply()).code, 250, 'NOOP, from the same segment as the header');
    c.close();

    const together = await RawSmtp.connect(barge.port);
    await together.send('PROXY TCP6 2001:DB8:0::7 2001:db8::1 50001 25\r\nEHLO v6.test\r\n');
    assert.equal((await together.reply()).code, 220);
    assert.equal(ehloAddress((await together.reply()).lines), '2001:db8::7', 'canonical spelling (RFC 5952)');
    together.close();

    const mapped = await RawSmtp.connect(barge.port);
    await mapped.send('PROXY TCP6 ::ffff:192.0.2.9 ::ffff:192.0.2.1 50002 25\r\nEHLO mapped.test\r\n');
    await mapped.reply();
    assert.equal(ehloAddress((await mapped.reply()).lines), '192.0.2.9', 'an IPv4-mapped client is its IPv4 address, as for sockets');
    mapped.close();
  } finally {
    await barge.stop();
  }
});

test("v2 LOCAL (a balancer's health check) and v1 UNKNOWN: the socket's own address is the client", async () => {
  const barge = await proxied();
  try {
    const local = await RawSmtp.connect(barge.port);
    await local.send(Buffer.from([...V2_SIGNATURE, 0x20, 0x00, 0x00, 0x00]));
    assert.equal((await local.reply()).code, 220);
    assert.equal(ehloAddress((await local.command('EHLO lb.test')).lines), '127.0.0.1');
    local.close();
    const unknown = await RawSmtp.connect(barge.port);
    await unknown.send('PROXY UNKNOWN\r\n');
    assert.equal((await unknown.reply()).code, 220);
    assert.equal(ehloAddress((await unknown.command('EHLO lb.test')).lines), '127.0.0.1');
    unknown.close();
  } finally {
    await barge.stop();
  }
});

/** Sends `bytes` (if any) from `from` and expects the connection closed with not one byte received. */
async function refused(port: number, bytes: string | Buffer | undefined, from = '127.0.0.1'): Promise<void> {
  const c = await RawSmtp.connect(port, '127.0.0.1', from);
  if (bytes !== undefined) await c.send(bytes).catch(() => undefined);
  await assert.rejects(c.reply(), /connection closed while waiting for a reply \(buffer: ""\)/);
}

test('refused without a greeting and logged: outside proxy_from, no header, a garbled or oversize header; a silent connect is not logged', async () => {
  const warnings: string[] = [];
  const barge = await proxied('', { say: (line) => warnings.push(line) });
  try {
    // A TCP health check: connect, close, nothing sent.
    const probe = await RawSmtp.connect(barge.port);
    probe.close();
    await refused(barge.port, 'PROXY TCP4 192.0.2.7 198.51.100.1 50000 25\r\nEHLO x\r\n', '127.0.0.5');
    await refused(barge.port, 'EHLO no-header.test\r\n');
    await refused(barge.port, 'PROXY TCP4 192.0.2.7\r\n');
    await refused(barge.port, Buffer.from([...V2_SIGNATURE, 0x21, 0x11, 0xff, 0xff]));
    const lines = await eventually(
      async () => {
        const proxyLines = parseW3cLog(await barge.protocolLog()).filter((l) => l['cs-method'] === 'PROXY');
        return proxyLines.length >= 4 ? proxyLines : undefined;
      },
      5000,
      'four PROXY lines',
    );
    assert.deepEqual(
      lines.map((l) => [l['c-ip'], l['cs-uri-query']]),
      [
        ['127.0.0.5', 'not+in+proxy_from:+PROXY+header+not+accepted'],
        ['127.0.0.1', 'not+a+PROXY+protocol+header'],
        ['127.0.0.1', 'v1+header+needs+protocol,+two+addresses+and+two+ports'],
        ['127.0.0.1', 'v2+header+of+65551+bytes+is+over+the+limit+of+2048'],
      ],
    );
    assert.equal(warnings.filter((w) => / refused: /.test(w)).length, 4, warnings.join('\n'));
    assert.match(warnings[0] ?? '', /connection from 127\.0\.0\.5 to listener smtp refused: not in proxy_from/);
    const counted = await barge.server.metrics?.registry.getSingleMetricAsString('barge_proxy_refusals_total');
    assert.match(counted ?? '', /barge_proxy_refusals_total\{listener="smtp"\} 4/);
    const ok = await RawSmtp.connect(barge.port);
    await ok.send('PROXY TCP4 192.0.2.7 198.51.100.1 50000 25\r\n');
    assert.equal((await ok.reply()).code, 220, 'a good header is still served');
    ok.close();
  } finally {
    await barge.stop();
  }
});

test('a balancer that sends no header is closed after 5 s (virtual time, the default wait), without a greeting', async () => {
  const clock = new VirtualClock();
  const warnings: string[] = [];
  const barge = await proxied('', { clock: clock, say: (line) => warnings.push(line) });
  try {
    const armed = clock.armed;
    const c = await RawSmtp.connect(barge.port);
    await eventually(async () => (clock.armed > armed ? true : undefined), 5000, 'the header wait to start');
    clock.advance(4999);
    await assert.rejects(c.reply(200), /no reply within/, 'still open, still silent at 4.999 s');
    clock.advance(1);
    await assert.rejects(c.reply(), /connection closed while waiting for a reply \(buffer: ""\)/);
    assert.match(warnings.join('\n'), /refused: no PROXY header within 5 s/);
  } finally {
    await barge.stop();
  }
});

/**
 * A relay that puts the PROXY header and the client's first bytes (here a TLS ClientHello) into one
 * write, so Barge reads them in one segment and must hand the ClientHello to the TLS layer intact.
 */
async function headerRelay(target: number, header: string): Promise<{ port: number; close: () => void }> {
  const sockets: Socket[] = [];
  const server = createServer((client) => {
    const upstream = connect({ port: target, host: '127.0.0.1' });
    sockets.push(client, upstream);
    client.once('data', (first: Buffer) => {
      upstream.write(Buffer.concat([Buffer.from(header), first]));
      client.pipe(upstream);
      upstream.pipe(client);
    });
    for (const s of [client, upstream]) s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

test('implicit TLS: the header is read from the raw socket, then the handshake, even with the ClientHello in the same segment', async () => {
  const barge = await proxied('tls = "implicit"');
  const relay = await headerRelay(barge.port, 'PROXY TCP4 192.0.2.7 198.51.100.1 50000 465\r\n');
  try {
    const c = await RawSmtp.connectTls(relay.port);
    assert.equal((await c.reply()).code, 220);
    assert.equal(ehloAddress((await c.command('EHLO tls.test')).lines), '192.0.2.7');
    await c.command('QUIT');
    c.close();
    // A TLS client that sends no header gets no handshake.
    await assert.rejects(RawSmtp.connectTls(barge.port));
  } finally {
    relay.close();
    await barge.stop();
  }
});
