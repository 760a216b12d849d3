/** Fault injection with a scriptable peer: every recipient ends delivered, bounced or queued for retry. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawSmtp } from '../support/raw-client.js';
import { eventually, startBarge, type TestBarge } from '../support/barge.js';
import { fakePeer, type FakePeer } from '../support/fake-peer.js';
import { VirtualClock } from '../support/virtual-clock.js';
import type { EntryState } from '../../src/queue/runner.js';

const MESSAGE = 'Subject: faults\r\n\r\nhello\r\n';

async function submit(barge: TestBarge, rcpts: string[], params = ''): Promise<string> {
  const c = await RawSmtp.connect(barge.port);
  await c.reply();
  await c.command('EHLO client.test');
  await c.send(
    `MAIL FROM:<alice@localhost>${params}\r\n${rcpts.map((r) => `RCPT TO:<${r}>\r\n`).join('')}BDAT ${MESSAGE.length} LAST\r\n${MESSAGE}`,
  );
  const replies = await c.replies(2 + rcpts.length);
  c.close();
  const last = replies.at(-1);
  assert.equal(last?.code, 250, last?.raw);
  return /queued as ([0-9A-Z]+)/.exec(last?.lines[0] ?? '')?.[1] ?? '';
}

/** The runner's retry times are compared with a virtual clock. */
async function withPeer(peer: FakePeer, toml: string, body: (barge: TestBarge, c: VirtualClock) => Promise<void>): Promise<void> {
  const c = new VirtualClock();
  const barge = await startBarge(`[delivery]\n${toml}`, { route: [`remote.test=127.0.0.1:${peer.port}`] }, undefined, { clock: c });
  try {
    await body(barge, c);
  } finally {
    await barge.stop();
    await peer.close();
  }
}

const state = async (barge: TestBarge, id: string): Promise<EntryState | undefined> => barge.server.spool.readState<EntryState>(id);

test('5xx for one of two recipients: one delivered, one bounced with a DSN to the sender', async () => {
  const peer = await fakePeer({ rcpt: (a) => (a.startsWith('gone') ? '550 5.1.1 no such user' : '250 2.1.5 OK') });
  await withPeer(peer, '', async (barge) => {
    await submit(barge, ['ok@remote.test', 'gone@remote.test']);
    const [dsn] = await eventually(
      async () => {
        const box = await barge.mailbox('alice@localhost');
        return box.length > 0 ? box : undefined;
      },
      10_000,
      'bounce',
    );
    assert.ok(dsn !== undefined);
    const text = dsn.toString('latin1');
    assert.match(text, /^Return-Path: <>\r$/m, 'a bounce comes from the null sender');
    assert.match(text, /5\.1\.1/);
    assert.match(text, /gone@remote\.test/);
    assert.doesNotMatch(text, /Final-Recipient: rfc822; ?ok@remote\.test/);
    assert.equal(peer.received.length, 1);
    assert.deepEqual(peer.received[0]?.rcpts, ['ok@remote.test']);
    assert.equal(peer.received[0]?.body.toString('latin1').endsWith(MESSAGE), true);
    await eventually(async () => ((await barge.server.spool.list()).length === 0 ? true : undefined), 5000, 'queue to empty');
  });
});

for (const fault of ['4xx on RCPT', 'reset at BDAT', 'silence after BDAT', 'reset mid-chunk', 'reset mid-DATA'] as const) {
  test(`${fault}: the message stays queued, is retried on schedule, and arrives exactly once`, async () => {
    let broken = true;
    let silenced = (): void => undefined;
    const silent = new Promise<void>((resolve) => (silenced = resolve));
    const peer = await fakePeer({
      rcpt: () => (broken && fault === '4xx on RCPT' ? '451 4.3.0 try later' : '250 2.1.5 OK'),
      content: () => {
        if (!broken) return 'accept';
        if (fault === 'reset at BDAT') return 'reset';
        if (fault === 'silence after BDAT') {
          silenced();
          return 'silent';
        }
        return fault.startsWith('reset mid') ? 'reset-mid' : 'accept';
      },
    });
    // With the BDAT fallback off, a path failure is retried like any other (the fallback is tested below).
    await withPeer(peer, fault === 'reset mid-DATA' ? 'outbound_command_support = 5' : 'fallback = false', async (barge, c) => {
      const id = await submit(barge, ['bob@remote.test']);
      // The check chunk waits its default 30 s (bdat_check_timeout), in virtual time.
      const waited = fault === 'silence after BDAT' ? 30_000 : 0;
      if (waited > 0) {
        await silent;
        c.advance(waited);
      }
      const deferred = await eventually(
        async () => {
          const s = await state(barge, id);
          return s?.rcpts[0]?.nextAttempt === undefined ? undefined : s;
        },
        10_000,
        'deferral',
      );
      const r = deferred.rcpts[0];
      assert.equal(r?.status, 'pending');
      assert.equal(r?.attempts, 1);
      // The classic schedule: first retry 15 minutes after the attempt began.
      assert.equal(Date.parse(r?.nextAttempt ?? '') - c.now().getTime(), 15 * 60_000 - waited);
      assert.equal(peer.received.length, 0);
      // Not due yet: a scan changes nothing.
      await barge.server.runner.scan();
      await barge.server.runner.idle();
      assert.equal((await state(barge, id))?.rcpts[0]?.attempts, 1);
      broken = false;
      c.advance(15 * 60_000);
      await barge.server.runner.scan();
      await barge.server.runner.idle();
      assert.equal(peer.received.length, 1, 'delivered exactly once');
      assert.equal(peer.received[0]?.method, fault === 'reset mid-DATA' ? 'DATA' : 'BDAT');
      assert.equal(peer.received[0]?.body.toString('latin1').endsWith(MESSAGE), true);
      assert.deepEqual(await barge.server.spool.list(), []);
    });
  });
}

test('a recipient still failing after the queue lifetime is bounced (4.4.7)', async () => {
  const peer = await fakePeer({ rcpt: () => '452 4.2.2 mailbox full' });
  await withPeer(peer, 'max_queue_lifetime = "1h"\ndelay_warning = "30m"', async (barge, c) => {
    const id = await submit(barge, ['full@remote.test']);
    await eventually(async () => ((await state(barge, id))?.rcpts[0]?.nextAttempt === undefined ? undefined : true), 10_000, 'deferral');
    c.advance(45 * 60_000);
    await barge.server.runner.scan();
    await barge.server.runner.idle();
    // Past the delay-warning time: the sender is told the message is delayed.
    const warned = await eventually(
      async () => {
        const box = await barge.mailbox('alice@localhost');
        return box.length > 0 ? box : undefined;
      },
      5000,
      'delay warning',
    );
    assert.match(warned[0]?.toString('latin1') ?? '', /delayed/i);
    c.advance(60 * 60_000);
    await barge.server.runner.scan();
    await barge.server.runner.idle();
    const box = await eventually(
      async () => {
        const b = await barge.mailbox('alice@localhost');
        return b.length > 1 ? b : undefined;
      },
      5000,
      'bounce',
    );
    assert.match(box[1]?.toString('latin1') ?? '', /4\.4\.7|4\.2\.2/);
    assert.deepEqual(await barge.server.spool.list(), []);
  });
});

test('DSN parameters are passed on to a peer that offers DSN; BODY and SIZE too', async () => {
  const peer = await fakePeer({ keywords: ['PIPELINING', 'CHUNKING', '8BITMIME', 'SIZE 100000', 'DSN'] });
  await withPeer(peer, '', async (barge) => {
    const c = await RawSmtp.connect(barge.port);
    await c.reply();
    await c.command('EHLO client.test');
    await c.send(
      `MAIL FROM:<alice@localhost> RET=HDRS ENVID=ab+2Bc BODY=8BITMIME\r\n` +
        `RCPT TO:<bob@remote.test> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;Bob+2Bx@remote.test\r\nBDAT ${MESSAGE.length} LAST\r\n${MESSAGE}`,
    );
    assert.deepEqual(
      (await c.replies(3)).map((r) => r.code),
      [250, 250, 250],
    );
    c.close();
    await eventually(async () => (peer.received.length > 0 ? true : undefined), 10_000, 'delivery');
    const [mail = '', rcpt = ''] = peer.received[0]?.commands ?? [];
    assert.match(mail, /^MAIL FROM:<alice@localhost> SIZE=\d+ BODY=8BITMIME RET=HDRS ENVID=ab\+2Bc$/);
    assert.equal(rcpt, 'RCPT TO:<bob@remote.test> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;Bob+2Bx@remote.test');
    assert.equal(peer.received[0]?.method, 'BDAT');
  });
});

test('a peer that refuses EHLO gets HELO and DATA; one whose SIZE is too small bounces the message unsent', async () => {
  const old = await fakePeer({ noEhlo: true });
  await withPeer(old, '', async (barge) => {
    await submit(barge, ['bob@remote.test']);
    await eventually(async () => (old.received.length > 0 ? true : undefined), 10_000, 'delivery');
    assert.equal(old.received[0]?.method, 'DATA');
    assert.equal(old.received[0]?.commands[0], 'MAIL FROM:<alice@localhost>', 'no ESMTP parameters after HELO');
  });
  const small = await fakePeer({ keywords: ['SIZE 10'] });
  await withPeer(small, '', async (barge) => {
    await submit(barge, ['bob@remote.test']);
    const [dsn] = await eventually(
      async () => {
        const box = await barge.mailbox('alice@localhost');
        return box.length > 0 ? box : undefined;
      },
      10_000,
      'bounce',
    );
    assert.match(dsn?.toString('latin1') ?? '', /Status: 5\.3\.4/);
    assert.equal(small.received.length, 0);
  });
});

test('messages to one destination reuse a session, and no more than max_per_destination run at once', async () => {
  const peer = await fakePeer();
  await withPeer(peer, 'max_per_destination = 2', async (barge) => {
    for (let i = 1; i <= 3; i++) {
      await submit(barge, ['bob@remote.test']);
      await eventually(async () => (peer.received.length === i ? true : undefined), 10_000, `delivery ${i}`);
    }
    assert.equal(peer.stats.connections, 1, 'one session carried three messages one after another');
    await Promise.all(Array.from({ length: 8 }, () => submit(barge, ['carol@remote.test'])));
    await eventually(async () => (peer.received.length === 11 ? true : undefined), 15_000, 'eight more deliveries');
    assert.ok(peer.stats.maxConcurrent <= 2, `at most 2 sessions at once, saw ${peer.stats.maxConcurrent}`);
  });
});

test('ETRN for the domain retries deferred mail at once (RFC 1985)', async () => {
  let broken = true;
  const peer = await fakePeer({ rcpt: () => (broken ? '451 4.3.0 later' : '250 2.1.5 OK') });
  await withPeer(peer, '', async (barge) => {
    const id = await submit(barge, ['bob@remote.test']);
    await eventually(async () => ((await state(barge, id))?.rcpts[0]?.nextAttempt === undefined ? undefined : true), 10_000, 'deferral');
    broken = false;
    const c = await RawSmtp.connect(barge.port);
    await c.reply();
    await c.command('EHLO admin.test');
    const r = await c.command('ETRN remote.test');
    assert.equal(r.code, 250);
    c.close();
    await eventually(async () => (peer.received.length === 1 ? true : undefined), 10_000, 'delivery after ETRN');
  });
});

test('per-route switches: chunking = "never" and binarymime = false for one domain, BDAT for another', async () => {
  const peer = await fakePeer({ keywords: ['PIPELINING', 'CHUNKING', '8BITMIME', 'BINARYMIME'] });
  const barge = await startBarge(
    `[routes."plain.test"]\nnext_hop = "127.0.0.1:${peer.port}"\nchunking = "never"\n` +
      `[routes."nobin.test"]\nnext_hop = "127.0.0.1:${peer.port}"\nbinarymime = false\n[routes]\n"fast.test" = "127.0.0.1:${peer.port}"`,
  );
  try {
    const c = await RawSmtp.connect(barge.port);
    await c.reply();
    await c.command('EHLO client.test');
    for (const to of ['a@plain.test', 'b@fast.test']) {
      await c.send(`MAIL FROM:<alice@localhost>\r\nRCPT TO:<${to}>\r\nBDAT ${MESSAGE.length} LAST\r\n${MESSAGE}`);
      assert.deepEqual(
        (await c.replies(3)).map((r) => r.code),
        [250, 250, 250],
      );
    }
    const binary = Buffer.concat([
      Buffer.from('Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n'),
      Buffer.from([0, 1, 2, 255, 13, 10]),
    ]);
    await c.send(
      Buffer.concat([
        Buffer.from(`MAIL FROM:<alice@localhost> BODY=BINARYMIME\r\nRCPT TO:<c@nobin.test>\r\nBDAT ${binary.length} LAST\r\n`),
        binary,
      ]),
    );
    assert.deepEqual(
      (await c.replies(3)).map((r) => r.code),
      [250, 250, 250],
    );
    c.close();
    await eventually(async () => (peer.received.length === 3 ? true : undefined), 10_000, 'three deliveries');
    const by = (rcpt: string) => peer.received.find((r) => r.rcpts.includes(rcpt));
    assert.equal(by('a@plain.test')?.method, 'DATA');
    assert.equal(by('b@fast.test')?.method, 'BDAT');
    const nobin = by('c@nobin.test');
    assert.equal(nobin?.method, 'BDAT', 'CHUNKING still used');
    assert.doesNotMatch(nobin?.commands[0] ?? '', /BINARYMIME/);
    assert.match(nobin?.body.toString('latin1') ?? '', /Content-Transfer-Encoding: base64/);
  } finally {
    await barge.stop();
    await peer.close();
  }
});

test('an SMTPUTF8 message to a peer without SMTPUTF8 bounces with 5.6.7 (RFC 6531 3.4), unsent', async () => {
  const peer = await fakePeer();
  await withPeer(peer, '', async (barge) => {
    const c = await RawSmtp.connect(barge.port);
    await c.reply();
    await c.command('EHLO client.test');
    const body = Buffer.from('Subject: utf8\r\n\r\nhi\r\n');
    await c.send(
      Buffer.concat([
        Buffer.from('MAIL FROM:<alice@localhost> SMTPUTF8\r\nRCPT TO:<jörg@remote.test>\r\n', 'utf8'),
        Buffer.from(`BDAT ${body.length} LAST\r\n`),
        body,
      ]),
    );
    assert.deepEqual(
      (await c.replies(3)).map((r) => r.code),
      [250, 250, 250],
    );
    c.close();
    const [dsn] = await eventually(
      async () => {
        const box = await barge.mailbox('alice@localhost');
        return box.length > 0 ? box : undefined;
      },
      10_000,
      'bounce',
    );
    assert.match(dsn?.toString('utf8') ?? '', /Status: 5\.6\.7/);
    assert.equal(peer.received.length, 0);
  });
});
