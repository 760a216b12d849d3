/** REQUIRETLS (RFC 8689 4.1) in the sans-I/O session: offered and accepted inside TLS only. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServerSession, type SessionAction } from './server-session.js';
import { options } from './session-harness.test-support.js';

function replies(actions: readonly SessionAction[]): string {
  return actions.map((a) => (a.kind === 'send' ? a.text : '')).join('');
}

test('REQUIRETLS: not offered and refused with 530 5.7.10 in clear text; offered and accepted after STARTTLS', () => {
  const s = new ServerSession(options({ tls: 'optional' }));
  s.greet();
  assert.doesNotMatch(replies(s.receive(Buffer.from('EHLO c\r\n'))), /REQUIRETLS/);
  assert.match(replies(s.receive(Buffer.from('MAIL FROM:<a@x.test> REQUIRETLS\r\n'))), /^530 5\.7\.10 /);
  assert.match(replies(s.receive(Buffer.from('STARTTLS\r\n'))), /^220 /);
  s.tlsStarted();
  assert.match(replies(s.receive(Buffer.from('EHLO c\r\n'))), /^250[- ]REQUIRETLS\r$/m);
  assert.match(replies(s.receive(Buffer.from('MAIL FROM:<a@x.test> REQUIRETLS=YES\r\n'))), /^555 5\.5\.4 /);
  assert.match(replies(s.receive(Buffer.from('MAIL FROM:<a@x.test> REQUIRETLS\r\n'))), /^250 /);
});
