/** swaks and Python's smtplib send to Barge with DATA; messages land byte-exact in Maildir. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually, startBarge, stripBargeHeaders, tempDir, type TestBarge } from '../support/barge.js';
import { peer, run } from '../support/peers.js';

async function delivered(barge: TestBarge, address: string): Promise<Buffer> {
  const [message] = await eventually(
    async () => {
      const box = await barge.mailbox(address);
      return box.length > 0 ? box : undefined;
    },
    10_000,
    `delivery to ${address}`,
  );
  assert.ok(message !== undefined);
  return stripBargeHeaders(message);
}

test('swaks sends with DATA (pipelined), dot-stuffed lines arrive intact', async (t) => {
  const swaks = peer(t, 'swaks');
  if (swaks === undefined) return;
  const barge = await startBarge();
  try {
    const message = 'Subject: via swaks\r\nFrom: a@client.test\r\n\r\nfirst\r\n.dot line\r\n..two dots\r\nlast\r\n';
    const file = join(await tempDir(), 'message.eml');
    // swaks turns the file's LF line ends into CRLF on the wire.
    await writeFile(file, message.replaceAll('\r\n', '\n'));
    const r = await run(swaks, [
      '--server',
      `127.0.0.1:${barge.port}`,
      '--from',
      'a@client.test',
      '--to',
      'carol@localhost',
      '--data',
      `@${file}`,
      '--pipeline',
      '--helo',
      'swaks.test',
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /<- {1,2}250 2\.0\.0 .*queued as/);
    const content = await delivered(barge, 'carol@localhost');
    // swaks ends the data with an empty line of its own before the final dot.
    assert.equal(content.toString('latin1'), `${message}\r\n`);
    const received = (await barge.tracking()).find((e) => e.event === 'received');
    assert.ok(received?.event === 'received');
    assert.equal(received.method, 'DATA');
    assert.equal(received.helo, 'swaks.test');
  } finally {
    await barge.stop();
  }
});

test("Python's smtplib sends 7-bit and 8BITMIME messages with DATA", async (t) => {
  const python = peer(t, 'python3');
  if (python === undefined) return;
  const barge = await startBarge();
  try {
    const script = `
import smtplib, sys
port = int(sys.argv[1])
plain = b"Subject: plain\\r\\n\\r\\n.starts with a dot\\r\\n.\\r\\nend\\r\\n"
eight = "Subject: eight\\r\\n\\r\\ncaf\\u00e9 \\u2603\\r\\n".encode("utf-8")
with smtplib.SMTP("127.0.0.1", port, local_hostname="python.test") as s:
    s.sendmail("a@client.test", ["dave@localhost"], plain)
    s.sendmail("a@client.test", ["erin@localhost"], eight, mail_options=["BODY=8BITMIME"])
`;
    const r = await run(python, ['-c', script, String(barge.port)]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await delivered(barge, 'dave@localhost')).toString('latin1'), 'Subject: plain\r\n\r\n.starts with a dot\r\n.\r\nend\r\n');
    assert.equal((await delivered(barge, 'erin@localhost')).toString('utf8'), 'Subject: eight\r\n\r\ncafé ☃\r\n');
    const received = (await barge.tracking()).filter((e) => e.event === 'received');
    assert.deepEqual(
      received.map((e) => (e.event === 'received' ? [e.method, e.body] : [])),
      [
        ['DATA', '7BIT'],
        ['DATA', '8BITMIME'],
      ],
    );
  } finally {
    await barge.stop();
  }
});
