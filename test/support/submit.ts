/** Submits one message over loopback with BDAT (EHLO, MAIL, RCPT, BDAT LAST) and returns its queue id. */
import assert from 'node:assert/strict';
import { RawSmtp } from './raw-client.js';
import type { TestBarge } from './barge.js';

export async function submitBdat(barge: TestBarge, to: string, message: string, from = 'alice@localhost'): Promise<string> {
  const c = await RawSmtp.connect(barge.port);
  await c.reply();
  await c.command('EHLO client.test');
  await c.send(`MAIL FROM:<${from}>\r\nRCPT TO:<${to}>\r\nBDAT ${Buffer.byteLength(message)} LAST\r\n${message}`);
  const replies = await c.replies(3);
  c.close();
  assert.equal(replies[2]?.code, 250, replies[2]?.raw);
  return /queued as ([0-9A-Z]+)/.exec(replies[2]?.lines[0] ?? '')?.[1] ?? '';
}
