/**
 * Barge's Authentication-Results is built, not copied: values an outsider chose are quoted or escaped
 * so that a reader following RFC 5322 (test/support/auth-results-reader.ts) sees only Barge's results.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spf } from 'mailauth/lib/spf/index.js';
import { assertOnlyComputed, readAuthResults } from '../../test/support/auth-results-reader.js';
import { authResultsField, comment, propertyValue, quotedString, temperrorResults } from './auth-results.js';
import { methodResult } from './checks.js';

const INJECTION = '");dkim=pass header.d=paypal.com header.i=@paypal.com;("@sender.example';
/** sender.example lets 192.0.2.1 send: the library's SPF comment then quotes the sender. */
const senderPermitted = async (name: string, type: string): Promise<unknown> => {
  if (name === 'sender.example' && type === 'TXT') return [['v=spf1 ip4:192.0.2.1 -all']];
  throw Object.assign(new Error('no such name'), { code: 'ENOTFOUND' });
};

test('values: tokens and addresses as they are, anything else a quoted-string; comments escape ( ) and \\', () => {
  assert.equal(propertyValue('barge.test'), 'barge.test');
  assert.equal(propertyValue('@paypal.com'), '@paypal.com');
  assert.equal(propertyValue('a.b+c@sender.example'), 'a.b+c@sender.example');
  assert.equal(propertyValue('ab/cd=='), '"ab/cd=="');
  assert.equal(propertyValue(INJECTION), `"\\");dkim=pass header.d=paypal.com header.i=@paypal.com;(\\"@sender.example"`);
  assert.equal(propertyValue('a\r\nb'), '"a b"');
  assert.equal(propertyValue(''), '""');
  assert.equal(quotedString('back\\slash'), '"back\\\\slash"');
  assert.equal(comment('a (b) \\ c'), '(a \\(b\\) \\\\ c)');
  assert.equal(comment('x)\r\n\tdkim=pass;('), '(x\\) dkim=pass;\\()');
});

test('the MAIL FROM injection: a reader following RFC 5322 sees spf and dkim only as computed', async () => {
  // The library's own SPF text for this sender, as Barge used to copy it: the reader finds a forged result.
  const checked = await spf({ sender: INJECTION, ip: '192.0.2.1', helo: 'client.example', mta: 'barge.test', resolver: senderPermitted });
  assert.equal(checked.status.result, 'pass');
  const copied = readAuthResults(`Authentication-Results: barge.test;\r\n\tdkim=none;\r\n\t${checked.info ?? ''};\r\n\tdmarc=none`);
  assert.ok(
    copied.results.some((r) => r.method === 'dkim' && r.result === 'pass' && r.props.get('header.d') === 'paypal.com'),
    'the reader finds the forged result',
  );

  const field = authResultsField('barge.test', [
    { method: 'dkim', result: 'none', comments: ['message not signed'], props: [] },
    methodResult('spf', checked.status),
    { method: 'spf', result: 'none', comments: [], props: [['smtp.helo', 'client.example']] },
    { method: 'dmarc', result: 'none', comments: [], props: [] },
  ]);
  assertOnlyComputed(field, ['dkim=none', 'spf=pass', 'spf=none', 'dmarc=none'], INJECTION);
  // Each resinfo on a line of its own: nothing outside a quoted-string or comment continues a line.
  assert.equal(field.split('\r\n').length, 6, field);
});

test('a hostile DKIM tag or From domain stays inside its value; unknown results and property names are not written', () => {
  const field = authResultsField('barge.test', [
    {
      method: 'dkim',
      result: 'neutral',
      comments: ['no key ) ; dkim=pass ('],
      props: [
        ['header.i', '@x.example;dkim=pass'],
        ['header.s', 'a b'],
        ['bad name', 'x'],
        ['header.b', 'ab/+='],
      ],
    },
    { method: 'dmarc', result: 'pass; spf=pass', comments: [], props: [['header.from', 'evil.example (']] },
  ]);
  const read = readAuthResults(field);
  assert.ok(read.closed, field);
  assert.deepEqual(
    read.results.map((r) => `${r.method}=${r.result}`),
    ['dkim=neutral', 'dmarc=permerror'],
  );
  assert.deepEqual(
    [...(read.results[0]?.props ?? [])],
    [
      ['header.i', '@x.example;dkim=pass'],
      ['header.s', 'a b'],
      ['header.b', 'ab/+='],
    ],
  );
  assert.equal(read.results[1]?.props.get('header.from'), 'evil.example (');
});

test('temperror results keep the form tests and tools read', () => {
  assert.equal(
    authResultsField('barge.test', temperrorResults('checks took longer than 5000 ms')),
    'Authentication-Results: barge.test;\r\n\tspf=temperror (checks took longer than 5000 ms);\r\n' +
      '\tdkim=temperror;\r\n\tdmarc=temperror\r\n',
  );
});
