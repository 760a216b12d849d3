/** The HTTP-01 responder over real sockets: only a pending token's path is answered, and it is bounded. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { request } from 'node:http';
import { CHALLENGE_LIMITS, ChallengeResponder } from './challenges.js';

function ask(port: number, path: string, method = 'GET', headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('answers a pending token with its key authorization, and 404 to anything else', async () => {
  const responder = await ChallengeResponder.listen({ host: '127.0.0.1', port: 0 });
  try {
    const port = responder.port;
    responder.set('tok_EN-1', 'tok_EN-1.thumbprint');
    assert.deepEqual(await ask(port, '/.well-known/acme-challenge/tok_EN-1'), { status: 200, body: 'tok_EN-1.thumbprint' });
    assert.deepEqual(await ask(port, '/.well-known/acme-challenge/tok_EN-1', 'HEAD'), { status: 200, body: '' });
    const others = [
      '/',
      '/.well-known/acme-challenge/other',
      '/.well-known/acme-challenge/tok_EN-1/',
      '/.well-known/acme-challenge/../acme-challenge/tok_EN-1',
    ];
    for (const path of [...others, '/x?/.well-known/acme-challenge/tok_EN-1']) {
      assert.equal((await ask(port, path)).status, 404, path);
    }
    assert.equal((await ask(port, '/.well-known/acme-challenge/tok_EN-1', 'POST')).status, 404);
    responder.remove('tok_EN-1');
    assert.equal((await ask(port, '/.well-known/acme-challenge/tok_EN-1')).status, 404);
    // Headers past the limit are refused before any handler runs.
    assert.equal((await ask(port, '/', 'GET', { 'x-filler': 'a'.repeat(CHALLENGE_LIMITS.maxHeaderBytes) })).status, 431);
  } finally {
    await responder.close();
  }
});

test(`at most ${CHALLENGE_LIMITS.maxConnections} connections: the next is closed at once`, async () => {
  const responder = await ChallengeResponder.listen({ host: '127.0.0.1', port: 0 });
  const open: Socket[] = [];
  try {
    for (let i = 0; i < CHALLENGE_LIMITS.maxConnections; i++) {
      const s = connect(responder.port, '127.0.0.1');
      await new Promise((r) => s.once('connect', r));
      open.push(s);
    }
    // Accepted by the kernel, then closed by the server without an answer.
    const extra = connect(responder.port, '127.0.0.1');
    const closed = await new Promise<string>((resolve) => {
      let data = '';
      extra.on('data', (d: Buffer) => (data += d.toString()));
      extra.on('error', () => undefined);
      extra.once('close', () => resolve(data));
      extra.once('connect', () => extra.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    });
    assert.equal(closed, '');
    // One leaves: a new connection is answered again.
    open.pop()?.destroy();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await ask(responder.port, '/')).status, 404);
  } finally {
    for (const s of open) s.destroy();
    await responder.close();
  }
});
