/**
 * BDAT-hostile paths cost seconds, not the 5-minute reply timeout, at default settings (only the
 * route is set). Barge sends 10 messages (small text, 2 MB binary, 2 MB 8-bit) through `barge
 * middlebox` to another Barge (STARTTLS off: inside TLS no device sees BDAT); in every mode all 10
 * arrive exactly once, byte-exact, the last within 60 s of the first being sent. A receiver that
 * answers non-final chunks at once but takes 90 s over the final one is not taken for a tarpit.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { RawSmtp } from '../support/raw-client.js';
import { eventually, startBarge, type TestBarge } from '../support/barge.js';
import { fakePeer } from '../support/fake-peer.js';
import { startMiddlebox, type MiddleboxMode } from '../../src/middlebox/proxy.js';
import { QuirkStore, quirksPath } from '../../src/client/quirks.js';
import type { TrackingRecord } from '../../src/log/tracking.js';

const COUNT = 10;
const MB2 = 2 * 1024 * 1024;

interface Sample {
  readonly id: string;
  readonly body: 'BINARYMIME' | '8BITMIME' | '7BIT';
  readonly header: Buffer;
  readonly content: Buffer;
}

/** Message n: 2 MB binary (3, 7), 2 MB 8-bit text (5), else text from 300 octets to about 60 KB. */
function sample(mode: string, n: number): Sample {
  const id = `<${mode}-${n}@sender.test>`;
  const body = n === 3 || n === 7 ? 'BINARYMIME' : n === 5 ? '8BITMIME' : '7BIT';
  const type =
    body === 'BINARYMIME'
      ? 'Content-Type: application/octet-stream\r\n'
      : body === '8BITMIME'
        ? 'Content-Type: text/plain; charset=iso-8859-1\r\n'
        : '';
  const header = Buffer.from(`Subject: ${mode} ${n}\r\nMessage-ID: ${id}\r\n${type}\r\n`);
  const size = body === '7BIT' ? (n === 1 ? 300 : 4000 + ((n * 7919) % 60_000)) : MB2;
  const content =
    body === 'BINARYMIME'
      ? randomBytes(size)
      : body === '8BITMIME'
        ? Buffer.from(`${'caf\xe9 cr\xe8me br\xfbl\xe9e .\r\n'.repeat(Math.ceil(size / 24))}`, 'latin1')
        : Buffer.from(`${'text line\r\n'.repeat(Math.ceil(size / 11))}.dot line\r\n`);
  return { id, body, header, content };
}

async function submitAll(sender: TestBarge, samples: readonly Sample[]): Promise<void> {
  const c = await RawSmtp.connect(sender.port);
  await c.reply();
  await c.command('EHLO client.test');
  for (const s of samples) {
    const bytes = Buffer.concat([s.header, s.content]);
    const param = s.body === '7BIT' ? '' : ` BODY=${s.body}`;
    await c.send(
      Buffer.concat([
        Buffer.from(`MAIL FROM:<alice@localhost>${param}\r\nRCPT TO:<bob@remote.test>\r\nBDAT ${bytes.length} LAST\r\n`),
        bytes,
      ]),
    );
    const replies = await c.replies(3);
    assert.equal(replies[2]?.code, 250, replies[2]?.raw);
  }
  c.close();
}

/**
 * The delivered file ends with the message as submitted (byte-exact), or, when binary content had
 * to go by DATA, with the same bytes in base64 under an X-Barge-Converted header (RFC 3030 3).
 */
function assertSameContent(delivered: Buffer, s: Sample): 'exact' | 'converted' {
  const original = Buffer.concat([s.header, s.content]);
  if (delivered.subarray(delivered.length - original.length).equals(original)) return 'exact';
  const text = delivered.toString('latin1');
  assert.match(text, /^X-Barge-Converted: /m, `${s.id} is neither byte-exact nor marked converted`);
  const bodyAt = text.indexOf('\r\n\r\n', text.indexOf(`Message-ID: ${s.id}`));
  const decoded = Buffer.from(text.slice(bodyAt + 4).replace(/\r\n/g, ''), 'base64');
  assert.ok(decoded.equals(s.content), `${s.id}: the base64 content decodes to the bytes sent`);
  return 'converted';
}

const messageId = (m: Buffer): string => /^Message-ID: (<[^>]+>)\r$/m.exec(m.subarray(0, 4096).toString('latin1'))?.[1] ?? '?';

async function throughDevice(mode: MiddleboxMode): Promise<void> {
  const receiver = await startBarge('[listener.smtp]\ntls = "off"', { localDomain: ['remote.test'], hostname: 'receiver.test' });
  const box = await startMiddlebox({ listen: { host: '127.0.0.1', port: 0 }, upstream: { host: '127.0.0.1', port: receiver.port }, mode });
  const sender = await startBarge('', { route: [`remote.test=127.0.0.1:${box.address.port}`] });
  try {
    const samples = Array.from({ length: COUNT }, (_, i) => sample(mode, i + 1));
    const started = Date.now();
    await submitAll(sender, samples);
    await eventually(
      async () => ((await receiver.mailbox('bob@remote.test')).length >= COUNT ? true : undefined),
      120_000,
      `${COUNT} messages (${mode})`,
    );
    const lastArrived = Date.now() - started;
    // Anything sent twice would arrive now.
    await new Promise((r) => setTimeout(r, 500));
    const mail = await receiver.mailbox('bob@remote.test');
    assert.equal(mail.length, COUNT, 'no duplicates');
    assert.deepEqual(mail.map(messageId).sort(), samples.map((s) => s.id).sort(), 'every message exactly once');
    const how = samples.map((s) => {
      const delivered = mail.find((m) => messageId(m) === s.id);
      assert.ok(delivered !== undefined);
      return assertSameContent(delivered, s);
    });
    const events = await sender.tracking();
    const delivered = events.filter((e) => e.event === 'delivered');
    const quirks = events.filter((e) => e.event === 'quirk').map((q) => (q.event === 'quirk' ? q.kind : ''));
    const methods = JSON.stringify(delivered.map((d) => (d.event === 'delivered' ? d.method : '')));
    process.stdout.write(
      `# ${mode}: last of ${COUNT} arrived ${lastArrived} ms after the first was sent; ${methods}; learnt ${JSON.stringify(quirks)}\n`,
    );
    assert.ok(lastArrived < 60_000, `${mode}: the last message arrived ${lastArrived} ms after the first was sent`);
    assert.equal(delivered.length, COUNT);
    if (mode === 'tarpit-chunks') {
      assert.ok(quirks.includes('big-chunks'), JSON.stringify(quirks));
      assert.ok(
        delivered.every((d) => d.event === 'delivered' && d.method === 'BDAT'),
        'a tarpit still carries BDAT',
      );
      assert.ok(how.every((h) => h === 'exact'));
    } else {
      assert.deepEqual(quirks, ['no-bdat'], 'learnt once');
      assert.ok(delivered.some((d) => d.event === 'delivered' && d.method === 'DATA'));
    }
  } finally {
    await sender.stop();
    await box.close();
    await receiver.stop();
  }
}

async function submitOne(barge: TestBarge, subject: string, size: number): Promise<void> {
  const c = await RawSmtp.connect(barge.port);
  await c.reply();
  await c.command('EHLO client.test');
  const body = Buffer.from(`Subject: ${subject}\r\n\r\n${'x'.repeat(size)}\r\n`);
  await c.send(
    Buffer.concat([Buffer.from(`MAIL FROM:<alice@localhost>\r\nRCPT TO:<bob@remote.test>\r\nBDAT ${body.length} LAST\r\n`), body]),
  );
  const replies = await c.replies(3);
  c.close();
  assert.equal(replies.at(-1)?.code, 250, replies.at(-1)?.raw);
}

describe('BDAT-hostile paths at default settings', { concurrency: true }, () => {
  for (const mode of ['drop-bdat', 'reset-after-bdat', 'mask-keywords', 'tarpit-chunks', 'drop-second-bdat'] as const) {
    test(`through a "${mode}" device, 10 messages arrive exactly once and byte-exact within 60 s`, () => throughDevice(mode));
  }

  test('a receiver slow only on BDAT LAST (90 s) gets the message by BDAT, and no quirk is learnt', async () => {
    const peer = await fakePeer({ finalDelayMs: 90_000 });
    const barge = await startBarge('', { route: [`remote.test=127.0.0.1:${peer.port}`] });
    try {
      const started = Date.now();
      // 1.5 MB: the check chunk, one 1 MB chunk and the rest as LAST.
      await submitOne(barge, 'slow scanner', 1_500_000);
      await eventually(async () => (peer.received.length >= 1 ? true : undefined), 150_000, 'delivery');
      assert.ok(Date.now() - started >= 89_000, 'the final reply really took 90 s');
      assert.equal(peer.received[0]?.method, 'BDAT');
      // The peer has the message before Barge has read its reply and tracked the delivery.
      const tracked = async (): Promise<TrackingRecord | undefined> => (await barge.tracking()).find((e) => e.event === 'delivered');
      const delivered = await eventually(tracked, 10_000, 'delivered event');
      const events = await barge.tracking();
      assert.deepEqual(
        events.filter((e) => e.event === 'quirk'),
        [],
        'no quirk learnt',
      );
      assert.ok(delivered?.event === 'delivered' && delivered.method === 'BDAT' && delivered.fallback === undefined);
      const store = await QuirkStore.open(quirksPath(barge.dataDir));
      assert.deepEqual(
        store.list().map((q) => q.kind),
        ['bdat-ok'],
        'only the passed check is remembered',
      );
    } finally {
      await barge.stop();
      await peer.close();
    }
  });

  test('a message in flight when BDAT is found dropped is resent by DATA at once, not after its own timeout', async () => {
    // Silent at the first two BDAT checks (one per message), then a normal receiver (DATA).
    let calls = 0;
    const peer = await fakePeer({ content: () => (++calls <= 2 ? 'silent' : 'accept') });
    const barge = await startBarge('', { route: [`remote.test=127.0.0.1:${peer.port}`] });
    try {
      const started = Date.now();
      await submitOne(barge, 'first', 100);
      await new Promise((r) => setTimeout(r, 15_000));
      await submitOne(barge, 'second', 100);
      await eventually(async () => (peer.received.length >= 2 ? true : undefined), 60_000, 'both deliveries');
      const took = Date.now() - started;
      // The first check times out at 30 s; the second, begun 15 s later, would wait until 45 s.
      assert.ok(took < 40_000, `both delivered ${took} ms after the first was sent`);
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(
        peer.received.map((m) => m.method),
        ['DATA', 'DATA'],
        'each exactly once, by DATA',
      );
      const events = await barge.tracking();
      assert.equal(events.filter((e) => e.event === 'quirk').length, 1, 'learnt once');
    } finally {
      await barge.stop();
      await peer.close();
    }
  });
});
