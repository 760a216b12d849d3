/** The middlebox's parsers: payload is never taken for commands, however the bytes are split. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommandSplitter, ReplySplitter, maskEhloKeywords, parseBdat, stripEhloKeyword, type Reply } from './smtp-stream.js';

type Item = [kind: string, text: string];

/** Runs the splitter over input cut into the given pieces; merges adjacent payload pieces. */
function splitCommands(pieces: readonly string[]): Item[] {
  const s = new CommandSplitter();
  const items: Item[] = [];
  for (const piece of pieces) {
    s.push(Buffer.from(piece, 'latin1'));
    for (let e = s.next(); e !== undefined; e = s.next()) {
      if (e.kind === 'command') {
        items.push(['command', e.raw.toString('latin1')]);
        continue;
      }
      const prev = items.at(-1);
      const text = e.data.toString('latin1');
      if (prev !== undefined && prev[0] === e.kind) prev[1] += text;
      else items.push([e.kind, text]);
      if (e.end) items.push([`${e.kind}-end`, '']);
    }
  }
  return items;
}

/** Every way of cutting the input in two and in three, plus byte at a time. */
function everySplit(input: string, check: (pieces: string[]) => void): void {
  check([input]);
  check([...input]);
  for (let i = 0; i <= input.length; i++) {
    check([input.slice(0, i), input.slice(i)]);
    for (let j = i; j <= input.length; j += 3) check([input.slice(0, i), input.slice(i, j), input.slice(j)]);
  }
}

test('BDAT chunk bytes that look like commands stay chunk bytes at every split', () => {
  const input = 'EHLO c\r\nMAIL FROM:<a>\r\nBDAT 23\r\nMAIL FROM:<x>\r\nBDAT 5\r\nBDAT 3 LAST\r\nabcNOOP\r\nQUIT\r\n';
  const expected: Item[] = [
    ['command', 'EHLO c\r\n'],
    ['command', 'MAIL FROM:<a>\r\n'],
    ['command', 'BDAT 23\r\n'],
    ['chunk', 'MAIL FROM:<x>\r\nBDAT 5\r\n'],
    ['chunk-end', ''],
    ['command', 'BDAT 3 LAST\r\n'],
    ['chunk', 'abc'],
    ['chunk-end', ''],
    ['command', 'NOOP\r\n'],
    ['command', 'QUIT\r\n'],
  ];
  everySplit(input, (pieces) => assert.deepEqual(splitCommands(pieces), expected, JSON.stringify(pieces)));
});

test('DATA content runs to a lone dot; a BDAT line inside it is content', () => {
  const input = 'DATA\r\nSubject: x\r\n\r\nBDAT 5\r\n..leading dot\r\n.x\r\n\r\n.\r\nBDAT 2 LAST\r\nhiQUIT\r\n';
  const expected: Item[] = [
    ['command', 'DATA\r\n'],
    ['content', 'Subject: x\r\n\r\nBDAT 5\r\n..leading dot\r\n.x\r\n\r\n.\r\n'],
    ['content-end', ''],
    ['command', 'BDAT 2 LAST\r\n'],
    ['chunk', 'hi'],
    ['chunk-end', ''],
    ['command', 'QUIT\r\n'],
  ];
  everySplit(input, (pieces) => assert.deepEqual(splitCommands(pieces), expected, JSON.stringify(pieces)));
});

test('an empty message (dot right after DATA) and a bare-LF dot that does not end content', () => {
  assert.deepEqual(splitCommands(['DATA\r\n.\r\nQUIT\r\n']), [
    ['command', 'DATA\r\n'],
    ['content', '.\r\n'],
    ['content-end', ''],
    ['command', 'QUIT\r\n'],
  ]);
  everySplit('DATA\r\na\n.\nb\r\n.\r\nNOOP\r\n', (pieces) =>
    assert.deepEqual(splitCommands(pieces), [
      ['command', 'DATA\r\n'],
      ['content', 'a\n.\nb\r\n.\r\n'],
      ['content-end', ''],
      ['command', 'NOOP\r\n'],
    ]),
  );
});

test('content streams before its end is seen, holding back at most a possible terminator', () => {
  const s = new CommandSplitter();
  s.push(Buffer.from('DATA\r\nhello wor', 'latin1'));
  assert.equal(s.next()?.kind, 'command');
  const first = s.next();
  assert.equal(first?.kind === 'content' ? first.data.toString() : undefined, 'hello wor');
  s.push(Buffer.from('ld\r\n', 'latin1'));
  const second = s.next();
  assert.equal(second?.kind === 'content' ? second.data.toString() : undefined, 'ld');
  assert.equal(s.next(), undefined);
});

test('a refused DATA leaves the client in commands; STARTTLS leftovers can be taken raw', () => {
  const s = new CommandSplitter();
  s.push(Buffer.from('DATA\r\n', 'latin1'));
  assert.equal(s.next()?.kind, 'command');
  assert.equal(s.mode, 'content');
  s.abortContent();
  s.push(Buffer.from('QUIT\r\n', 'latin1'));
  const quit = s.next();
  assert.equal(quit?.kind === 'command' ? quit.verb : undefined, 'QUIT');
  s.push(Buffer.from('STARTTLS\r\n\x16\x03\x01', 'latin1'));
  assert.equal(s.next()?.kind, 'command');
  assert.deepEqual([...s.takeBuffered()], [0x16, 0x03, 0x01]);
  assert.equal(s.next(), undefined);
});

test('parseBdat accepts size and LAST, rejects anything else', () => {
  assert.deepEqual(parseBdat('BDAT 10'), { size: 10, last: false });
  assert.deepEqual(parseBdat('bdat 0 last'), { size: 0, last: true });
  assert.equal(parseBdat('BDAT'), undefined);
  assert.equal(parseBdat('BDAT x'), undefined);
  assert.equal(parseBdat('BDAT 5 FIRST'), undefined);
  const s = new CommandSplitter();
  s.push(Buffer.from('BDAT x\r\nNOOP\r\n', 'latin1'));
  const bad = s.next();
  assert.equal(bad?.kind === 'command' ? bad.bdat : 'no', undefined);
  assert.equal(s.next()?.kind, 'command');
});

function splitReplies(pieces: readonly string[]): Reply[] {
  const s = new ReplySplitter();
  const out: Reply[] = [];
  for (const piece of pieces) {
    s.push(Buffer.from(piece, 'latin1'));
    for (let r = s.next(); r !== undefined; r = s.next()) out.push(r);
  }
  return out;
}

test('replies are whole, multi-line replies included, at every split', () => {
  const input = '220-mx.example ESMTP\r\n220 welcome\r\n250-mx.example\r\n250-PIPELINING\r\n250 CHUNKING\r\n354 go\r\n';
  everySplit(input, (pieces) => {
    const replies = splitReplies(pieces);
    assert.deepEqual(
      replies.map((r) => [r.code, r.lines]),
      [
        [220, ['mx.example ESMTP', 'welcome']],
        [250, ['mx.example', 'PIPELINING', 'CHUNKING']],
        [354, ['go']],
      ],
    );
    assert.equal(replies.map((r) => r.raw.toString('latin1')).join(''), input);
  });
});

function reply(text: string): Reply {
  const r = splitReplies([text])[0];
  assert.ok(r !== undefined);
  return r;
}

test('masking keeps length and parameters; the greeting line is never a keyword', () => {
  const r = reply('250-CHUNKING greets you\r\n250-BINARYMIME\r\n250-chunking\r\n250 SIZE 100\r\n');
  const masked = maskEhloKeywords(r, ['CHUNKING', 'BINARYMIME']);
  assert.equal(masked?.reply.toString('latin1'), '250-CHUNKING greets you\r\n250-XXXXXXXXXA\r\n250-XXXXXXXA\r\n250 SIZE 100\r\n');
  assert.deepEqual(masked?.masked, ['BINARYMIME', 'CHUNKING']);
  assert.equal(maskEhloKeywords(reply('250-mx\r\n250 SIZE\r\n'), ['CHUNKING']), undefined);
});

test('stripping STARTTLS fixes the continuation markers, in the middle and last', () => {
  assert.equal(
    stripEhloKeyword(reply('250-mx\r\n250-STARTTLS\r\n250 8BITMIME\r\n'), 'STARTTLS')?.toString('latin1'),
    '250-mx\r\n250 8BITMIME\r\n',
  );
  assert.equal(
    stripEhloKeyword(reply('250-mx\r\n250-8BITMIME\r\n250 STARTTLS\r\n'), 'STARTTLS')?.toString('latin1'),
    '250-mx\r\n250 8BITMIME\r\n',
  );
  assert.equal(stripEhloKeyword(reply('250 mx\r\n'), 'STARTTLS'), undefined);
});
