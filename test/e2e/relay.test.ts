/** Barge delivers: relayed mail goes Barge -> Barge over loopback with BDAT or DATA; failures bounce or wait. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { RawSmtp } from '../support/raw-client.js';
import { eventually, startBarge, stripBargeHeaders, type TestBarge } from '../support/barge.js';
import { parseW3cLog } from '../../src/log/w3c.js';

async function submit(barge: TestBarge, from: string, to: string, message: Buffer, params = ''): Promise<string> {
  const c = await RawSmtp.connect(barge.port);
  await c.reply();
  await c.command('EHLO client.test');
  await c.send(Buffer.concat([Buffer.from(`MAIL FROM:<${from}>${params}\r\nRCPT TO:<${to}>\r\nBDAT ${message.length} LAST\r\n`), message]));
  const replies = await c.replies(3);
  assert.deepEqual(
    replies.map((r) => r.code),
    [250, 250, 250],
    replies.map((r) => r.raw).join(''),
  );
  c.close();
  return /queued as ([0-9A-Z]+)/.exec(replies[2]?.lines[0] ?? '')?.[1] ?? '';
}

const firstMail = async (barge: TestBarge, address: string): Promise<Buffer> => {
  const [m] = await eventually(
    async () => {
      const box = await barge.mailbox(address);
      return box.length > 0 ? box : undefined;
    },
    15_000,
    `mail for ${address}`,
  );
  assert.ok(m !== undefined);
  return m;
};

/** Strips the receiving Barge's own headers, then the sending Barge's Received header. */
const original = (m: Buffer): Buffer => {
  const once = stripBargeHeaders(m);
  const end = once.indexOf('\r\n', once.indexOf(';\r\n') + 3);
  return once.subarray(end + 2);
};

test('a binary message is relayed Barge -> Barge with BDAT, byte-exact', async () => {
  const receiver = await startBarge('', { localDomain: ['remote.test'], hostname: 'receiver.test' });
  const sender = await startBarge('', { route: [`remote.test=127.0.0.1:${receiver.port}`] });
  try {
    const message = Buffer.concat([
      Buffer.from('Subject: binary relay\r\nContent-Type: application/octet-stream\r\n\r\n'),
      randomBytes(3_000_000),
      Buffer.from('\r\n'),
    ]);
    await submit(sender, 'alice@localhost', 'bob@remote.test', message, ' BODY=BINARYMIME');
    const delivered = await firstMail(receiver, 'bob@remote.test');
    assert.ok(original(delivered).equals(message), 'relayed bytes differ');
    const got = (await receiver.tracking()).find((e) => e.event === 'received');
    assert.ok(got?.event === 'received');
    assert.equal(got.method, 'BDAT');
    assert.equal(got.chunks, 4, 'a 4 KiB check chunk (the path is new), then 1 MB chunks');
    assert.equal(got.body, 'BINARYMIME');
    const sent = await eventually(async () => (await sender.tracking()).find((e) => e.event === 'delivered'), 5000, 'delivered record');
    assert.ok(sent.event === 'delivered' && sent.via === 'smtp');
    assert.match(sent.detail, / BDAT\/4: /);
    await eventually(async () => ((await sender.server.spool.list()).length === 0 ? true : undefined), 5000, 'queue to empty');
    const outbound = parseW3cLog(await sender.protocolLog()).filter((l) => l['cs-method'] === 'BDAT');
    assert.ok(outbound.length >= 3, 'outbound BDAT commands are in the protocol log');
  } finally {
    await sender.stop();
    await receiver.stop();
  }
});

test('with outbound_command_support = 5 the same relay uses DATA, dot lines intact', async () => {
  const receiver = await startBarge('', { localDomain: ['remote.test'], hostname: 'receiver.test' });
  const fields = '["time", "c-ip", "cs-username", "cs-method", "cs-uri-query", "sc-status"]';
  const sender = await startBarge(`[delivery]\noutbound_command_support = 5\n[log]\nw3c_fields = ${fields}`, {
    route: [`remote.test=127.0.0.1:${receiver.port}`],
  });
  try {
    const message = Buffer.from('Subject: via DATA\r\n\r\n.leading dot\r\n..two\r\n.\r\nend\r\n');
    await submit(sender, 'alice@localhost', 'bob@remote.test', message);
    assert.ok(original(await firstMail(receiver, 'bob@remote.test')).equals(message));
    const got = (await receiver.tracking()).find((e) => e.event === 'received');
    assert.ok(got?.event === 'received');
    assert.equal(got.method, 'DATA');
    // Outbound lines as the classic service wrote them: commands and responses, status 0.
    const log = parseW3cLog(
      await eventually(
        async () => {
          const text = await sender.protocolLog();
          return text.includes('OutboundConnectionResponse') && /QUIT/.test(text.split('OutboundConnectionCommand').slice(-1)[0] ?? '')
            ? text
            : undefined;
        },
        5000,
        'outbound log lines',
      ),
    );
    const commands = log.filter((l) => l['cs-username'] === 'OutboundConnectionCommand');
    assert.deepEqual(
      commands.map((l) => l['cs-method']),
      ['EHLO', 'STARTTLS', 'EHLO', 'MAIL', 'RCPT', 'DATA', 'QUIT'],
    );
    assert.match(commands[3]?.['cs-uri-query'] ?? '', /^FROM:<alice@localhost>\+SIZE=\d+$/);
    assert.ok(commands.every((l) => l['sc-status'] === '0' && l['c-ip'] === '127.0.0.1'));
    const responses = log.filter((l) => l['cs-username'] === 'OutboundConnectionResponse');
    assert.ok(
      responses.some((l) => /^250\+2\.0\.0\+OK\+queued\+as/.test(l['cs-uri-query'] ?? '')),
      JSON.stringify(responses),
    );
  } finally {
    await sender.stop();
    await receiver.stop();
  }
});
