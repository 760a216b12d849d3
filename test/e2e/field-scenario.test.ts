/**
 * The field scenario: Barge sends through an emulated ESMTP-inspecting firewall to another Barge.
 * 200 messages of mixed sizes (some binary) per mode: with the automatic fallback every one arrives
 * exactly once; with `fallback = false` the failures show in the W3C log as the classic
 * administrator saw them (a BDAT command with no reply after it) and the messages stay queued.
 * The reply timeout is the default 5 minutes: a black hole is found by the 30 s BDAT check.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { RawSmtp } from '../support/raw-client.js';
import { eventually, startBarge, type TestBarge } from '../support/barge.js';
import { startMiddlebox, type MiddleboxMode } from '../../src/middlebox/proxy.js';
import { parseW3cLog } from '../../src/log/w3c.js';

const LOG_FIELDS = '[log]\nw3c_fields = ["time", "c-ip", "cs-username", "cs-method", "cs-uri-query", "sc-status"]\n';

/** Message n: text or binary, 200 bytes to about 1.5 MB (so some need several chunks). */
function message(n: number): { bytes: Buffer; binary: boolean } {
  const binary = n % 5 === 0;
  const size = n % 40 === 0 ? 1_500_000 : 200 + ((n * 7919) % 60_000);
  const header = Buffer.from(
    `Subject: field ${n}\r\nMessage-ID: <field-${n}@sender.test>\r\n${binary ? 'Content-Type: application/octet-stream\r\n' : ''}\r\n`,
  );
  const body = binary ? randomBytes(size) : Buffer.from(`${'text line\r\n'.repeat(Math.ceil(size / 11))}.dot line\r\n`);
  return { bytes: Buffer.concat([header, body, Buffer.from('\r\n')]), binary };
}

/** Submits `count` messages over one pipelined connection, one transaction at a time. */
async function submitAll(sender: TestBarge, count: number): Promise<void> {
  const c = await RawSmtp.connect(sender.port);
  await c.reply();
  await c.command('EHLO client.test');
  for (let n = 1; n <= count; n++) {
    const { bytes, binary } = message(n);
    await c.send(
      Buffer.concat([
        Buffer.from(
          `MAIL FROM:<alice@localhost>${binary ? ' BODY=BINARYMIME' : ''}\r\nRCPT TO:<bob@remote.test>\r\nBDAT ${bytes.length} LAST\r\n`,
        ),
        bytes,
      ]),
    );
    const replies = await c.replies(3);
    assert.equal(replies[2]?.code, 250, replies[2]?.raw);
  }
  c.close();
}

async function scenario(
  mode: MiddleboxMode,
  count: number,
  fallback: boolean,
  check: (sender: TestBarge, receiver: TestBarge) => Promise<void>,
): Promise<void> {
  // No STARTTLS here: inside TLS a firewall cannot see BDAT at all (a cure in itself), and many
  // inspecting firewalls strip STARTTLS anyway.
  const receiver = await startBarge('[listener.smtp]\ntls = "off"', { localDomain: ['remote.test'], hostname: 'receiver.test' });
  const box = await startMiddlebox({
    listen: { host: '127.0.0.1', port: 0 },
    upstream: { host: '127.0.0.1', port: receiver.port },
    mode,
    tarpitMs: 1500,
  });
  const sender = await startBarge(`[delivery]\nslow_chunk = "1s"\nfallback = ${String(fallback)}\n${LOG_FIELDS}`, {
    route: [`remote.test=127.0.0.1:${box.address.port}`],
  });
  try {
    await submitAll(sender, count);
    await check(sender, receiver);
  } finally {
    await sender.stop();
    await box.close();
    await receiver.stop();
  }
}

const subjects = (mail: Buffer[]): string[] => mail.map((m) => /^Subject: (field \d+)\r$/m.exec(m.toString('latin1'))?.[1] ?? '?');

for (const mode of ['drop-bdat', 'reset-after-bdat', 'mask-keywords', 'tarpit-chunks'] as const) {
  test(`through a "${mode}" firewall, with the fallback, 200 messages arrive exactly once`, async () => {
    await scenario(mode, 200, true, async (sender, receiver) => {
      const mail = await eventually(
        async () => {
          const box = await receiver.mailbox('bob@remote.test');
          return box.length >= 200 ? box : undefined;
        },
        120_000,
        '200 messages',
      );
      await new Promise((r) => setTimeout(r, 300));
      const got = subjects(await receiver.mailbox('bob@remote.test'));
      assert.equal(got.length, 200, 'no duplicates arrived late');
      assert.equal(new Set(got).size, 200, 'every message exactly once');
      assert.equal(mail.length, 200);
      await eventually(async () => ((await sender.server.spool.list()).length === 0 ? true : undefined), 10_000, 'sender queue to empty');
      const events = await sender.tracking();
      const delivered = events.filter((e) => e.event === 'delivered');
      assert.equal(delivered.length, 200);
      const quirks = events.filter((e) => e.event === 'quirk');
      if (mode === 'tarpit-chunks') {
        // A tarpit delays only non-final chunks: small messages pass untouched as one chunk, and
        // after the first slow multi-chunk message the large ones go as one chunk too.
        assert.ok(
          quirks.some((q) => q.event === 'quirk' && q.kind === 'big-chunks'),
          JSON.stringify(quirks),
        );
        assert.ok(delivered.every((d) => d.event === 'delivered' && d.method === 'BDAT'));
      } else {
        assert.ok(
          quirks.some((q) => q.event === 'quirk' && q.kind === 'no-bdat'),
          JSON.stringify(quirks),
        );
        assert.ok(
          delivered.every((d) => d.event === 'delivered' && d.method === 'DATA'),
          'all went by DATA',
        );
      }
    });
  });
}

test('through a "drop-bdat" firewall with fallback = false: BDAT lines without a reply, messages kept', async () => {
  // As many messages as sessions to one destination (10): each pays one 30 s check, all at once.
  await scenario('drop-bdat', 10, false, async (sender, receiver) => {
    await eventually(
      async () => {
        const events = (await sender.tracking()).filter((e) => e.event === 'deferred');
        return events.length >= 10 ? events : undefined;
      },
      60_000,
      'every message deferred once',
    );
    assert.equal((await receiver.mailbox('bob@remote.test')).length, 0);
    assert.equal((await sender.server.spool.list()).length, 10, 'nothing lost: all 10 still queued for retry');
    const lines = parseW3cLog(await sender.protocolLog()).filter((l) => l['cs-username']?.startsWith('Outbound'));
    // The classic picture: an outbound BDAT command, and the next outbound line is not its response.
    const silent = lines.filter((l, i) => l['cs-method'] === 'BDAT' && lines[i + 1]?.['cs-username'] !== 'OutboundConnectionResponse');
    assert.ok(silent.length >= 1, 'a BDAT line with no reply after it');
  });
});

test('Barge serves a client behind such a device: masked EHLO argument, XXXX verbs answered 500, session intact', async () => {
  const barge = await startBarge('', { queueOnly: true });
  try {
    const c = await RawSmtp.connect(barge.port);
    await c.reply();
    assert.equal((await c.command('EHLO ********')).code, 250);
    assert.match((await c.command('XXXX')).raw, /^500 5\.5\.1 /);
    assert.match((await c.command('XXXXXXXA 12 LAST')).raw, /^500 5\.5\.1 /);
    assert.equal((await c.command('MAIL FROM:<a@behind.test>')).code, 250);
    assert.equal((await c.command('RCPT TO:<bob@localhost>')).code, 250);
    assert.equal((await c.command('DATA')).code, 354);
    assert.equal((await c.command('Subject: through\r\n\r\nok\r\n.')).code, 250);
    c.close();
  } finally {
    await barge.stop();
  }
});
