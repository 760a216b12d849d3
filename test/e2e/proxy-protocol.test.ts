/**
 * Barge behind HAProxy (mode tcp, `send-proxy` and `send-proxy-v2`): the client connects from one
 * loopback address (127.0.0.2 or 127.0.0.4), HAProxy connects to Barge from another (127.0.0.3),
 * and only the address in the PROXY header may decide anything. Relay networks hold 127.0.0.2 and
 * not the balancer, so a relay is allowed only if the real address is used, and refused for
 * 127.0.0.4; the logs, the Received field, ETRN, the per-address connection limit, SPF and TLS
 * (STARTTLS, and implicit TLS whose handshake follows the header) all see the client.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawSmtp } from '../support/raw-client.js';
import { eventually, startBarge } from '../support/barge.js';
import { startHaproxy, type TestHaproxy } from '../support/haproxy.js';
import { startDns } from '../support/dns.js';
import { peer } from '../support/peers.js';
import { parseW3cLog } from '../../src/log/w3c.js';

const CLIENT = '127.0.0.2';
const STRANGER = '127.0.0.4';
const BALANCER = '127.0.0.3';
const PROXIED = `relay_networks = ["${CLIENT}/32"]\nlocal_domains = ["barge.test"]\n[log]\nw3c_fields = ["time", "c-ip", "cs-method", "cs-uri-query", "sc-status"]`;
const LISTENER = `proxy_protocol = true\nproxy_from = ["${BALANCER}/32"]`;

const message = (subject: string): string =>
  `From: alice@client.test\r\nTo: bob@barge.test\r\nSubject: ${subject}\r\n\r\nthrough the balancer\r\n`;

test('send-proxy (v1): relay, ETRN, STARTTLS, Received, tracking and the W3C log see the real client, never the balancer', async (t) => {
  const haproxy = peer(t, 'haproxy');
  if (haproxy === undefined) return;
  const barge = await startBarge(`${PROXIED}\n[listener.smtp]\n${LISTENER}`);
  let balancer: TestHaproxy | undefined;
  try {
    balancer = await startHaproxy(haproxy, { backendPort: barge.port, header: 'send-proxy', source: BALANCER });
    const c = await RawSmtp.connect(balancer.port, '127.0.0.1', CLIENT);
    assert.equal((await c.reply()).code, 220);
    assert.match((await c.command('EHLO client.test')).lines[0] ?? '', /Hello client\.test \[127\.0\.0\.2\]/);
    assert.equal((await c.command('STARTTLS')).code, 220);
    const { leftover } = await c.startTls();
    assert.equal(leftover, '');
    assert.match((await c.command('EHLO client.test')).lines[0] ?? '', /\[127\.0\.0\.2\]/, 'the address survives STARTTLS');
    assert.equal((await c.command('MAIL FROM:<alice@client.test>')).code, 250);
    assert.equal(
      (await c.command('RCPT TO:<carol@remote.test>')).code,
      250,
      'a relay from 127.0.0.2 is allowed: Barge used the real address',
    );
    assert.equal((await c.command('RSET')).code, 250);
    assert.equal((await c.command('ETRN remote.test')).code, 250);
    const body = message('v1');
    await c.send(`MAIL FROM:<alice@client.test>\r\nRCPT TO:<bob@barge.test>\r\nBDAT ${Buffer.byteLength(body)} LAST\r\n${body}`);
    assert.deepEqual(
      (await c.replies(3)).map((r) => r.code),
      [250, 250, 250],
    );
    await c.command('QUIT');
    c.close();

    const s = await RawSmtp.connect(balancer.port, '127.0.0.1', STRANGER);
    assert.equal((await s.reply()).code, 220);
    assert.match((await s.command('EHLO stranger.test')).lines[0] ?? '', /\[127\.0\.0\.4\]/);
    assert.equal((await s.command('MAIL FROM:<eve@stranger.test>')).code, 250);
    const refused = await s.command('RCPT TO:<carol@remote.test>');
    assert.deepEqual(
      [refused.code, refused.lines[0]?.slice(0, 5)],
      [554, '5.7.1'],
      'no relay for 127.0.0.4, although it came through the same balancer',
    );
    assert.equal((await s.command('RSET')).code, 250);
    assert.equal((await s.command('ETRN remote.test')).code, 458, 'ETRN is for relay networks: 127.0.0.4 is not in them');
    await s.command('QUIT');
    s.close();

    const [delivered] = await eventually(
      async () => {
        const box = await barge.mailbox('bob@barge.test');
        return box.length > 0 ? box : undefined;
      },
      15_000,
      'local delivery',
    );
    const received = delivered?.toString('latin1').split('\r\n\r\n')[0] ?? '';
    assert.match(received, /Received: from client\.test \(\[127\.0\.0\.2\]\)/);
    assert.match(received, /with ESMTPS/);
    assert.doesNotMatch(received, /127\.0\.0\.3/);
    const tracked = (await barge.tracking()).find((e) => e.event === 'received');
    assert.equal(tracked?.event === 'received' ? tracked.clientIp : undefined, CLIENT);
    const lines = parseW3cLog(await barge.protocolLog());
    const ips = new Set(lines.map((l) => l['c-ip']));
    assert.deepEqual([...ips].sort(), [CLIENT, STRANGER], 'c-ip is the client on every line');
    assert.ok(lines.some((l) => l['c-ip'] === STRANGER && l['cs-method'] === 'RCPT' && l['sc-status'] === '554'));
  } finally {
    await balancer?.stop();
    await barge.stop();
  }
});

test('send-proxy-v2: the per-address connection limit, SPF, and an implicit TLS listener use the real client', async (t) => {
  const haproxy = peer(t, 'haproxy');
  const dnsmasq = peer(t, 'dnsmasq');
  if (haproxy === undefined || dnsmasq === undefined) return;
  const dns = await startDns(dnsmasq, [
    `--txt-record=stranger.test,v=spf1 ip4:${STRANGER} -all`,
    `--txt-record=balancer.test,v=spf1 ip4:${BALANCER} -all`,
  ]);
  const toml = [
    PROXIED,
    '[limits]\nmax_connections_per_ip = 1',
    `[dns]\nservers = ["${dns.server}"]`,
    `[listener.smtp]\n${LISTENER}\nspf_fail = "reject"`,
    `[listener.smtps]\nlisten = "127.0.0.1:0"\ntls = "implicit"\n${LISTENER}`,
  ].join('\n');
  const barge = await startBarge(toml);
  const balancers: TestHaproxy[] = [];
  try {
    const smtpsPort = barge.server.addresses.find((a) => a.name === 'smtps')?.port ?? 0;
    const front = await startHaproxy(haproxy, { backendPort: barge.port, header: 'send-proxy-v2', source: BALANCER });
    balancers.push(front);
    const tlsFront = await startHaproxy(haproxy, { backendPort: smtpsPort, header: 'send-proxy-v2', source: BALANCER });
    balancers.push(tlsFront);

    // All three arrive from 127.0.0.3; the limit of one per address counts the clients behind it.
    const first = await RawSmtp.connect(front.port, '127.0.0.1', CLIENT);
    assert.equal((await first.reply()).code, 220);
    const second = await RawSmtp.connect(front.port, '127.0.0.1', CLIENT);
    const over = await second.reply();
    assert.deepEqual([over.code, over.lines[0]?.slice(0, 5)], [421, '4.7.0'], 'a second connection from 127.0.0.2 is over its limit');
    second.close();
    const other = await RawSmtp.connect(front.port, '127.0.0.1', STRANGER);
    assert.equal((await other.reply()).code, 220, '127.0.0.4 has a limit of its own');

    // SPF: stranger.test permits 127.0.0.4 only, balancer.test the balancer only.
    await other.command('EHLO stranger.test');
    const pass = message('spf pass');
    await other.send(`MAIL FROM:<eve@stranger.test>\r\nRCPT TO:<bob@barge.test>\r\nBDAT ${Buffer.byteLength(pass)} LAST\r\n${pass}`);
    assert.deepEqual(
      (await other.replies(3)).map((r) => r.code),
      [250, 250, 250],
      'SPF passes for the real client',
    );
    const fail = message('spf fail');
    await other.send(`MAIL FROM:<eve@balancer.test>\r\nRCPT TO:<bob@barge.test>\r\nBDAT ${Buffer.byteLength(fail)} LAST\r\n${fail}`);
    const replies = await other.replies(3);
    assert.deepEqual(
      [replies[2]?.code, replies[2]?.lines[0]?.slice(0, 6)],
      [550, '5.7.23'],
      "the balancer's address does not pass SPF for the client",
    );
    other.close();
    first.close();
    const checked = (await barge.tracking()).filter((e) => e.event === 'authenticated');
    assert.deepEqual(
      checked.map((e) => (e.event === 'authenticated' ? [e.clientIp, e.action] : [])),
      [
        [STRANGER, 'accept'],
        [STRANGER, 'reject'],
      ],
    );

    const secure = await RawSmtp.connectTls(tlsFront.port, '127.0.0.1', CLIENT);
    assert.equal((await secure.reply()).code, 220, 'the TLS handshake follows the PROXY header');
    assert.match((await secure.command('EHLO client.test')).lines[0] ?? '', /\[127\.0\.0\.2\]/);
    await secure.command('QUIT');
    secure.close();
    const limited = parseW3cLog(await barge.protocolLog()).find((l) => l['sc-status'] === '421');
    assert.equal(limited?.['c-ip'], CLIENT);
  } finally {
    for (const b of balancers) await b.stop();
    await barge.stop();
    await dns.stop();
  }
});
