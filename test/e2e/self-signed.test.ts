/** Without [tls] files Barge makes its own certificate (in a child process): once, private, and reused. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { buildConfig } from '../../src/config/validate.js';
import { TlsCredentials } from '../../src/server/tls.js';
import { tempDir } from '../support/barge.js';

test('a self-signed pair for the hostname and loopback is made once, its key file private (0600), and reused', async () => {
  const dir = await tempDir();
  const config = buildConfig(undefined, { listen: ['127.0.0.1:0'], dataDir: dir }, 'self.test');
  const first = await TlsCredentials.open(config);
  assert.match(first.description, /generated/);
  assert.equal((await stat(join(dir, 'tls', 'self-signed.key'))).mode & 0o777, 0o600);
  const x509 = new X509Certificate(first.pem.cert);
  assert.equal(x509.checkHost('self.test'), 'self.test');
  assert.equal(x509.checkIP('127.0.0.1'), '127.0.0.1');
  assert.ok(x509.checkPrivateKey(createPrivateKey(first.pem.key)));
  const second = await TlsCredentials.open(config);
  assert.equal(second.pem.cert, first.pem.cert);
  assert.doesNotMatch(second.description, /generated/);
});
