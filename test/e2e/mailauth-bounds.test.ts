/**
 * One outside message cannot freeze the server (a `barge serve` child at default settings, dnsmasq for
 * DNS). 100 DKIM signatures with different l= over a 3 MB body, and a header section of about 1 MB
 * of signatures, get their end-of-data reply within the default 5 s budget plus 1 s, at most 5
 * signatures verified and the rest one `dkim=policy`; 20,000 signatures in a 2.3 MB header section
 * are refused 552 5.3.4 at once. Meanwhile a second client's sessions (greeting, EHLO, NOOP, QUIT)
 * never wait 100 ms for a reply, and the library prints nothing on the server's standard output. A
 * small message first starts the check worker, as any running server's first outside message has.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RawSmtp, type SmtpReply } from '../support/raw-client.js';
import { eventually, tempDir } from '../support/barge.js';
import { startDns } from '../support/dns.js';
import { peer } from '../support/peers.js';
import { exited, spawnBarge } from '../support/crash.js';
import { dkimSigned } from '../support/signed-mail.js';
import { authResultsFields, readAuthResults } from '../support/auth-results-reader.js';
import { dnsTxtRecord } from '../../src/mailauth/dkim-keys.js';
import { dataPaths } from '../../src/config/paths.js';
import { mailboxFolder } from '../../src/queue/maildir.js';

/** The default `[mail_auth] time_budget`. */
const BUDGET_MS = 5000;
const key = generateKeyPairSync('ed25519').privateKey;

/** A syntactically valid signature that cannot verify, each with its own l= (one body hasher each in the library). */
const bogus = (i: number, length: number): string =>
  `DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=bulk${i}.test; s=s;\r\n\tl=${length}; h=from:to:subject;\r\n` +
  '\tbh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=dGhpcyBpcyBub3QgYSBzaWduYXR1cmU=\r\n';

function message(subject: string, signatures: number, bodySize: number): Buffer {
  const date = 'Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n';
  const head = `From: Someone <someone@signer.test>\r\nTo: bob@barge.test\r\nSubject: ${subject}\r\n${date}`;
  const body = Buffer.concat([Buffer.alloc(bodySize - 2, 'The quick brown fox jumps over the lazy dog.\r\n'), Buffer.from('\r\n')]);
  const valid = dkimSigned(Buffer.concat([Buffer.from(`${head}\r\n`), body]), 'signer.test', key);
  const rest = Array.from({ length: signatures - 1 }, (_, i) => bogus(i, bodySize - 1000 - i * 997)).join('');
  // The valid signature first (it is among those verified), then the others above the From.
  const cut = valid.indexOf('From: ');
  return Buffer.concat([valid.subarray(0, cut), Buffer.from(rest), valid.subarray(cut)]);
}

/** A second client, session after session, timing every reply; returns the worst round trip. */
function watchRoundTrips(port: number): { stop(): Promise<{ worst: number; replies: number }> } {
  let running = true;
  let worst = 0;
  let replies = 0;
  const timed = async (what: () => Promise<SmtpReply>): Promise<void> => {
    const started = performance.now();
    await what();
    worst = Math.max(worst, performance.now() - started);
    replies++;
  };
  const loop = (async (): Promise<void> => {
    while (running) {
      let c: RawSmtp | undefined;
      await timed(async () => {
        c = await RawSmtp.connect(port);
        return c.reply();
      });
      if (c === undefined) break;
      const session = c;
      for (const line of ['EHLO watcher.test', 'NOOP', 'QUIT']) await timed(() => session.command(line));
      session.close();
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { worst, replies };
    },
  };
}

async function sendTimed(port: number, method: 'DATA' | 'BDAT', bytes: Buffer): Promise<{ reply: SmtpReply; ms: number }> {
  const c = await RawSmtp.connect(port);
  await c.reply();
  await c.command('EHLO client.test');
  assert.equal((await c.command('MAIL FROM:<a@sender.test>')).code, 250);
  assert.equal((await c.command('RCPT TO:<bob@barge.test>')).code, 250);
  if (method === 'DATA') {
    assert.equal((await c.command('DATA')).code, 354);
    await c.send(Buffer.concat([bytes, Buffer.from('.\r\n')]));
  } else await c.send(Buffer.concat([Buffer.from(`BDAT ${bytes.length} LAST\r\n`), bytes]));
  const sent = performance.now();
  const reply = await c.reply(60_000);
  const ms = performance.now() - sent;
  c.close();
  return { reply, ms };
}

async function residentMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

test('100 signatures over 3 MB, 1 and 2.3 MB headers of signatures: prompt replies, 5 verified, a responsive, silent server', async (t) => {
  const dnsmasq = peer(t, 'dnsmasq');
  if (dnsmasq === undefined) return;
  const dns = await startDns(dnsmasq, [
    `--txt-record=k1._domainkey.signer.test,${dnsTxtRecord(key)}`,
    '--txt-record=_dmarc.signer.test,v=DMARC1; p=reject',
    '--txt-record=sender.test,v=spf1 ip4:127.0.0.1 -all',
  ]);
  const dir = await tempDir();
  const configFile = join(dir, 'barge.toml');
  await writeFile(configFile, `relay_networks = []\nlocal_domains = ["barge.test"]\n[dns]\nservers = ["${dns.server}"]\n`);
  const barge = await spawnBarge(dir, ['--config', configFile]);
  const pid = barge.child.pid ?? 0;
  try {
    const many = message('many signatures', 100, 3_000_000);
    const sig = bogus(0, 1000).length;
    const wide = message('a wide header', Math.floor((1024 * 1024 - 4000) / (sig + 8)), 2000);
    const huge = message('a huge header', 20_000, 2000);
    assert.ok(huge.indexOf('\r\n\r\n') > 2_300_000);
    await new Promise((r) => setTimeout(r, 500));
    const idle = await residentMiB(pid);
    // The worker starts with the first outside message (a running server has long had its own).
    const cold = await sendTimed(barge.port, 'BDAT', message('first', 1, 1000));
    assert.equal(cold.reply.code, 250, cold.reply.raw);
    const started = await residentMiB(pid);

    // The same watch with nothing else going on, before and after. On a machine so busy with other work
    // that even the idle server answers slower than the bound, the bound is twice the idle worst (the
    // checks then take one of the cores the others compete for); a blocked event loop shows as seconds.
    const quietly = async (): Promise<number> => {
      const quiet = watchRoundTrips(barge.port);
      await new Promise((r) => setTimeout(r, 3000));
      return (await quiet.stop()).worst;
    };
    const before = await quietly();
    const watcher = watchRoundTrips(barge.port);
    const first = await sendTimed(barge.port, 'BDAT', many);
    const second = await sendTimed(barge.port, 'DATA', wide);
    const third = await sendTimed(barge.port, 'BDAT', huge);
    const watched = await watcher.stop();
    const after = await residentMiB(pid);
    const idleWorst = Math.max(before, await quietly());
    t.diagnostic(
      `end-of-data replies: ${first.ms.toFixed(0)} ms (100 signatures, 3 MB), ${second.ms.toFixed(0)} ms (1 MB header), ` +
        `${third.ms.toFixed(0)} ms (2.3 MB header); the first message, starting the worker: ${cold.ms.toFixed(0)} ms`,
    );
    t.diagnostic(
      `second client: worst round trip ${watched.worst.toFixed(1)} ms over ${watched.replies} replies ` +
        `(${idleWorst.toFixed(1)} ms with the server idle)`,
    );
    t.diagnostic(
      `server resident size: ${idle.toFixed(1)} MiB idle, ${started.toFixed(1)} MiB with the worker, ${after.toFixed(1)} MiB after`,
    );

    assert.equal(first.reply.code, 250, first.reply.raw);
    assert.equal(second.reply.code, 250, second.reply.raw);
    assert.equal(third.reply.code, 552, third.reply.raw);
    assert.match(third.reply.raw, /^552 5\.3\.4 Message header section exceeds 1048576 octets/);
    for (const r of [first, second]) assert.ok(r.ms < BUDGET_MS + 1000, `reply after ${r.ms.toFixed(0)} ms`);
    assert.ok(third.ms < 1000, `refusal after ${third.ms.toFixed(0)} ms`);
    assert.ok(watched.replies > 20, `${watched.replies} replies watched`);
    assert.ok(watched.worst < Math.max(100, 2 * idleWorst), `a reply to the second client took ${watched.worst.toFixed(1)} ms`);

    const folder = join(mailboxFolder(dataPaths(dir).mail, 'bob@barge.test'), 'new');
    const delivered = await eventually(
      async () => {
        const names = await readdir(folder).catch(() => [] as string[]);
        return names.length === 3 ? Promise.all(names.map((n) => readFile(join(folder, n), 'latin1'))) : undefined;
      },
      20_000,
      'the messages delivered',
    );
    for (const text of delivered.filter((m) => !m.includes('Subject: first\r\n'))) {
      const [field = ''] = authResultsFields(text);
      const read = readAuthResults(field);
      const dkim = read.results.filter((r) => r.method === 'dkim');
      assert.equal(dkim.filter((r) => r.result !== 'policy').length, 5, field);
      assert.deepEqual(dkim[0] && [dkim[0].result, dkim[0].props.get('header.i')], ['pass', '@signer.test'], field);
      assert.equal(dkim.filter((r) => r.result === 'policy').length, 1, field);
      assert.equal(read.results.find((r) => r.method === 'dmarc')?.result, 'pass', field);
    }
    assert.equal(barge.output(), '', 'nothing on standard output');
  } finally {
    barge.child.kill('SIGTERM');
    await exited(barge.child);
    await dns.stop();
  }
});
