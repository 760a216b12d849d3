/**
 * The quirk key against a real DNS server on loopback: delivery reaches a partner through its MX
 * name, BDAT breaks on the path and "no-bdat" is learnt at the MX's address under that name; a clean
 * `barge probe MXNAME --data-dir` (resolving as delivery does) forgets it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { RawSmtp } from '../support/raw-client.js';
import { eventually, startBarge, tempDir } from '../support/barge.js';
import { fakePeer } from '../support/fake-peer.js';
import { startDns } from '../support/dns.js';
import { peer as installed, run } from '../support/peers.js';
import { QuirkStore, quirksPath } from '../../src/client/quirks.js';

const BIN = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..', 'bin', 'barge.js');

test('a clean probe of the MX by name clears the quirk delivery learnt at its address', async (t) => {
  const dnsmasq = installed(t, 'dnsmasq');
  if (dnsmasq === undefined) return;
  // The path resets the first BDAT only, as an inspecting firewall would; later BDAT chunks pass.
  let first = true;
  const peer = await fakePeer({
    content: () => {
      if (!first) return 'accept';
      first = false;
      return 'reset';
    },
  });
  const dns = await startDns(dnsmasq, ['--mx-host=partner.test,mx.partner.test,10', '--host-record=mx.partner.test,127.0.0.1']);
  const toml = `[dns]\nservers = ["${dns.server}"]\n[delivery]\nport = ${peer.port}`;
  const barge = await startBarge(toml);
  try {
    const c = await RawSmtp.connect(barge.port);
    await c.reply();
    await c.command('EHLO client.test');
    await c.send('MAIL FROM:<alice@localhost>\r\nRCPT TO:<bob@partner.test>\r\nBDAT 15 LAST\r\nSubject: mx\r\n\r\n');
    assert.deepEqual(
      (await c.replies(3)).map((r) => r.code),
      [250, 250, 250],
    );
    c.close();
    await eventually(async () => (peer.received.length === 1 ? true : undefined), 15_000, 'delivery by DATA after the fallback');
    const learnt = (await QuirkStore.open(quirksPath(barge.dataDir))).list();
    assert.deepEqual(
      learnt.map((q) => [q.destination, q.name, q.kind]),
      [[`127.0.0.1:${peer.port}`, 'mx.partner.test', 'no-bdat']],
    );

    const config = join(await tempDir(), 'barge.toml');
    await writeFile(config, `[dns]\nservers = ["${dns.server}"]\n`);
    const probe = await run(process.execPath, [
      BIN,
      'probe',
      `mx.partner.test:${peer.port}`,
      '--no-tls',
      '--timeout',
      '5',
      '--data-dir',
      barge.dataDir,
      '--config',
      config,
    ]);
    assert.equal(probe.code, 0, probe.stdout + probe.stderr);
    assert.match(probe.stdout, /^probe mx\.partner\.test:\d+$/m);
    assert.match(probe.stdout, new RegExp(`^forgot 1 quirk\\(s\\) for mx\\.partner\\.test:${peer.port}: the path is clean$`, 'm'));
    assert.deepEqual((await QuirkStore.open(quirksPath(barge.dataDir))).list(), []);
  } finally {
    await barge.stop();
    await peer.close();
    await dns.stop();
  }
});
