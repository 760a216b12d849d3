import type { Clock } from '../time/clock.js';
import { clockAt } from '../../test/support/virtual-clock.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { W3cLog, parseW3cLog, type ProtocolLogEntry } from './w3c.js';
import { DEFAULT_W3C_FIELDS, DEFAULT_W3C_FLAGS, W3C_FIELDS, fieldsFromFlags, flagsFromFields, parseFieldList } from './w3c-fields.js';

const ALL = W3C_FIELDS.map(([name]) => name);

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'barge-w3c-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function clock(iso: string): Clock & { set: (iso: string) => void } {
  let t = new Date(iso);
  return {
    ...clockAt(() => t),
    set: (s) => {
      t = new Date(s);
    },
  };
}

const ehlo: ProtocolLogEntry = {
  time: new Date('2024-03-05T07:08:10Z'),
  clientIp: '192.0.2.1',
  method: 'EHLO',
  query: 'client.example',
  status: 250,
};

test('default header and line, byte for byte', async () => {
  await withDir(async (dir) => {
    const c = clock('2024-03-05T07:08:09Z');
    const log = new W3cLog({
      dir: join(dir, 'SMTPSVC1'),
      fields: DEFAULT_W3C_FIELDS,
      siteName: 'SMTPSVC1',
      computerName: 'MAIL01',
      software: 'Barge 0.1.0',
      clock: c,
    });
    log.write(ehlo);
    log.write({ ...ehlo, method: 'QUIT', query: undefined, status: 240 });
    await log.close();
    const text = await readFile(join(dir, 'SMTPSVC1', 'ex240305.log'), 'utf8');
    assert.equal(
      text,
      '#Software: Barge 0.1.0\r\n#Version: 1.0\r\n#Date: 2024-03-05 07:08:09\r\n' +
        '#Fields: time c-ip cs-method cs-uri-stem sc-status\r\n' +
        '07:08:10 192.0.2.1 EHLO - 250\r\n' +
        '07:08:10 192.0.2.1 QUIT - 240\r\n',
    );
  });
});

test('all 21 fields, byte for byte', async () => {
  await withDir(async (dir) => {
    const log = new W3cLog({
      dir,
      fields: ALL,
      siteName: 'SMTPSVC1',
      computerName: 'MAIL01',
      clock: clockAt(() => new Date('2024-12-31T23:00:00Z')),
    });
    log.write({
      time: new Date('2024-12-31T23:59:58Z'),
      clientIp: '198.51.100.7',
      username: 'OutboundConnectionCommand',
      serverIp: '203.0.113.5',
      serverPort: 25,
      method: 'MAIL',
      query: 'FROM:<a@example.org> SIZE=1000 BODY=BINARYMIME',
      status: 0,
      win32Status: 0,
      bytesSent: 12,
      bytesReceived: 51,
      timeTakenMs: 3,
    });
    await log.close();
    const text = await readFile(join(dir, 'ex241231.log'), 'utf8');
    assert.equal(
      text,
      '#Software: Barge\r\n#Version: 1.0\r\n#Date: 2024-12-31 23:00:00\r\n' +
        `#Fields: ${ALL.join(' ')}\r\n` +
        '2024-12-31 23:59:58 198.51.100.7 OutboundConnectionCommand SMTPSVC1 MAIL01 203.0.113.5 MAIL - ' +
        'FROM:<a@example.org>+SIZE=1000+BODY=BINARYMIME 0 0 12 51 3 25 - - - SMTP -\r\n',
    );
  });
});

test('field selection by LogExtFileFlags', () => {
  assert.deepEqual(fieldsFromFlags(0x586), ['time', 'c-ip', 'cs-method', 'cs-uri-stem', 'sc-status']);
  assert.deepEqual(fieldsFromFlags(0x586), [...DEFAULT_W3C_FIELDS]);
  assert.equal(flagsFromFields(DEFAULT_W3C_FIELDS), DEFAULT_W3C_FLAGS);
  assert.equal(DEFAULT_W3C_FLAGS, 0x586);
  assert.deepEqual(fieldsFromFlags(0x1fffff), ALL);
  assert.equal(ALL.length, 21);
  assert.equal(flagsFromFields(ALL), 0x1fffff);
  // Unknown bits choose nothing; order follows IIS, not the caller.
  assert.deepEqual(fieldsFromFlags(0x200000 | 0x8000 | 0x1), ['date', 's-port']);
  assert.deepEqual(parseFieldList(['sc-status', 'TIME', 'cs(user-agent)', 'time']), ['time', 'sc-status', 'cs(User-Agent)']);
});

test('unknown field names are refused with the valid list', () => {
  assert.throws(
    () => parseFieldList(['time', 'cs-referrer']),
    (e: unknown) => {
      assert.ok(e instanceof Error);
      assert.match(e.message, /"cs-referrer"/);
      assert.match(e.message, /cs\(Referer\)/);
      assert.match(e.message, /sc-win32-status/);
      return true;
    },
  );
  assert.throws(() => flagsFromFields(['nope']), /"nope"/);
  assert.throws(() => new W3cLog({ dir: '/nonexistent', fields: ['x-smtp'], siteName: 'S', computerName: 'C' }), /"x-smtp"/);
});

test('spaces become + and CR/LF/control characters cannot break a line', async () => {
  await withDir(async (dir) => {
    const log = new W3cLog({
      dir,
      fields: ['time', 'cs-username', 'cs-method', 'cs-uri-query', 'sc-status'],
      siteName: 'S',
      computerName: 'C',
    });
    log.write({ ...ehlo, username: 'evil host\r\n', method: 'RCPT', query: 'TO:<x@y>\r\n07:08:10 1.2.3.4 QUIT - 240\tz\u2028\u0085\0' });
    log.write({ ...ehlo, username: '', query: '' });
    await log.close();
    const text = await readFile(join(dir, 'ex240305.log'), 'utf8');
    const data = text.split('\r\n').filter((l) => l !== '' && !l.startsWith('#'));
    assert.deepEqual(data, ['07:08:10 evil+host++ RCPT TO:<x@y>++07:08:10+1.2.3.4+QUIT+-+240+z+++ 250', '07:08:10 - EHLO - 250']);
    assert.equal(text.split('\n').length - 1, text.split('\r\n').length - 1, 'every LF is part of a CRLF');
  });
});

test('a new UTC day starts a new file with its own header', async () => {
  await withDir(async (dir) => {
    const c = clock('2024-03-05T23:59:59Z');
    const log = new W3cLog({ dir, fields: DEFAULT_W3C_FIELDS, siteName: 'S', computerName: 'C', clock: c });
    log.write({ ...ehlo, time: c.now() });
    c.set('2024-03-06T00:00:01Z');
    log.write({ ...ehlo, time: c.now(), method: 'MAIL' });
    await log.close();
    assert.deepEqual((await readdir(dir)).sort(), ['ex240305.log', 'ex240306.log']);
    const day1 = await readFile(join(dir, 'ex240305.log'), 'utf8');
    const day2 = await readFile(join(dir, 'ex240306.log'), 'utf8');
    assert.match(day1, /^#Software: Barge\r\n#Version: 1\.0\r\n#Date: 2024-03-05 23:59:59\r\n#Fields: /);
    assert.match(day1, /23:59:59 192\.0\.2\.1 EHLO - 250\r\n$/);
    assert.match(day2, /^#Software: Barge\r\n#Version: 1\.0\r\n#Date: 2024-03-06 00:00:01\r\n#Fields: /);
    assert.match(day2, /\r\n00:00:01 192\.0\.2\.1 MAIL - 250\r\n$/);
  });
});

test('reopening an existing file of the day appends a fresh header block', async () => {
  await withDir(async (dir) => {
    const first = new W3cLog({
      dir,
      fields: DEFAULT_W3C_FIELDS,
      siteName: 'S',
      computerName: 'C',
      clock: clockAt(() => new Date('2024-03-05T07:00:00Z')),
    });
    first.write(ehlo);
    await first.close();
    const second = new W3cLog({
      dir,
      fields: ['date', 'time', 'cs-method'],
      siteName: 'S',
      computerName: 'C',
      clock: clockAt(() => new Date('2024-03-05T09:00:00Z')),
    });
    second.write({ ...ehlo, time: new Date('2024-03-05T09:00:01Z'), method: 'HELO' });
    await second.close();
    const text = await readFile(join(dir, 'ex240305.log'), 'utf8');
    assert.equal(text.match(/^#Version: 1\.0\r$/gm)?.length, 2);
    assert.match(
      text,
      /07:08:10 192\.0\.2\.1 EHLO - 250\r\n#Software: Barge\r\n#Version: 1\.0\r\n#Date: 2024-03-05 09:00:00\r\n#Fields: date time cs-method\r\n2024-03-05 09:00:01 HELO\r\n$/,
    );
    // Each block is read with its own #Fields.
    assert.deepEqual(parseW3cLog(text), [
      { time: '07:08:10', 'c-ip': '192.0.2.1', 'cs-method': 'EHLO', 'cs-uri-stem': '-', 'sc-status': '250' },
      { date: '2024-03-05', time: '09:00:01', 'cs-method': 'HELO' },
    ]);
  });
});

test('parse round trip of every field', async () => {
  await withDir(async (dir) => {
    const log = new W3cLog({
      dir,
      fields: ALL,
      siteName: 'SMTPSVC2',
      computerName: 'MX1',
      clock: clockAt(() => new Date('2024-03-05T00:00:00Z')),
    });
    const entries: ProtocolLogEntry[] = [
      {
        ...ehlo,
        username: 'client.example',
        serverIp: '192.0.2.9',
        serverPort: 587,
        status: 250,
        bytesSent: 200,
        bytesReceived: 22,
        timeTakenMs: 0,
      },
      { ...ehlo, method: 'BDAT', query: '1000 LAST', status: 250, win32Status: 0 },
      { ...ehlo, username: 'OutboundConnectionResponse', method: '-', query: '250 2.0.0 OK', status: 0 },
    ];
    for (const e of entries) log.write(e);
    await log.close();
    const rows = parseW3cLog(await readFile(join(dir, 'ex240305.log'), 'utf8'));
    assert.equal(rows.length, 3);
    assert.deepEqual(Object.keys(rows[0] ?? {}), ALL);
    assert.equal(rows[0]?.['cs-username'], 'client.example');
    assert.equal(rows[0]?.['s-port'], '587');
    assert.equal(rows[0]?.['time-taken'], '0');
    assert.equal(rows[0]?.['s-sitename'], 'SMTPSVC2');
    assert.equal(rows[0]?.['s-computername'], 'MX1');
    assert.equal(rows[0]?.['cs-version'], 'SMTP');
    assert.equal(rows[1]?.['cs-uri-query'], '1000+LAST');
    assert.equal(rows[1]?.['sc-win32-status'], '0');
    assert.equal(rows[1]?.['sc-bytes'], '-');
    assert.equal(rows[2]?.['cs-username'], 'OutboundConnectionResponse');
    assert.equal(rows[2]?.['sc-status'], '0');
    assert.equal(rows[2]?.['cs-uri-query'], '250+2.0.0+OK');
  });
});

test('a slow disk drops and counts lines instead of buffering without bound', async () => {
  await withDir(async (dir) => {
    const log = new W3cLog({ dir, fields: DEFAULT_W3C_FIELDS, siteName: 'S', computerName: 'C', maxBufferBytes: 200 });
    for (let i = 0; i < 100; i++) log.write({ ...ehlo, query: String(i) });
    await log.flush();
    log.write({ ...ehlo, method: 'QUIT', status: 240 });
    await log.close();
    const text = await readFile(join(dir, 'ex240305.log'), 'utf8');
    const dropped = Number(/^#Remark: (\d+) lines dropped\r$/m.exec(text)?.[1]);
    const rows = parseW3cLog(text);
    assert.ok(dropped > 0 && dropped < 100, `dropped ${dropped}`);
    assert.equal(rows.length + dropped, 101);
    assert.match(text, /#Remark: \d+ lines dropped\r\n\S+ \S+ QUIT - 240\r\n$/);
  });
});

test('a write error is reported once through onError and never thrown', async () => {
  await withDir(async (dir) => {
    const notADir = join(dir, 'file');
    await writeFile(notADir, 'x');
    const errors: Error[] = [];
    const log = new W3cLog({
      dir: join(notADir, 'SMTPSVC1'),
      fields: DEFAULT_W3C_FIELDS,
      siteName: 'S',
      computerName: 'C',
      onError: (e) => errors.push(e),
    });
    assert.doesNotThrow(() => log.write(ehlo));
    await log.flush();
    log.write(ehlo);
    await log.close();
    assert.equal(errors.length, 1);
    assert.match(String(errors[0]?.message), /ENOTDIR|EEXIST/);
    assert.equal(await readFile(notADir, 'utf8'), 'x');
  });
});
