/**
 * `barge probe` through each mode of the middlebox emulator in front of a real Barge: the verdict
 * names what the device does, and the clean control path through `pass` is `clean`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBarge } from '../../test/support/barge.js';
import { startMiddlebox, type MiddleboxMode } from '../middlebox/proxy.js';
import { probePath } from './probe.js';

const expected: ReadonlyArray<[MiddleboxMode, readonly string[]]> = [
  ['pass', ['clean']],
  ['mask-keywords', ['keywords-masked', 'bdat-refused']],
  ['drop-bdat', ['bdat-dropped']],
  ['drop-second-bdat', ['bdat-dropped']],
  ['reset-after-bdat', ['bdat-reset']],
  ['tarpit-chunks', ['chunks-delayed']],
  ['mask-banner', ['banner-masked']],
  ['strip-starttls', ['no-starttls']],
];

test('the probe gives the right verdict through each middlebox mode', async () => {
  const barge = await startBarge('', { queueOnly: true });
  try {
    for (const [mode, verdicts] of expected) {
      const box = await startMiddlebox({
        listen: { host: '127.0.0.1', port: 0 },
        upstream: { host: '127.0.0.1', port: barge.port },
        mode,
        tarpitMs: 600,
      });
      try {
        // TLS off except for the STARTTLS modes: inside TLS the device cannot see BDAT at all.
        const tls = mode === 'strip-starttls' || mode === 'pass';
        const r = await probePath({
          host: '127.0.0.1',
          port: box.address.port,
          helo: 'probe.test',
          timeoutMs: 1500,
          slowChunkMs: 300,
          tls,
        });
        assert.ok(verdicts.includes(r.verdict), `${mode}: ${r.verdict} (${r.findings.join(', ')})`);
        assert.equal(r.exitCode, mode === 'pass' ? 0 : 1, mode);
      } finally {
        await box.close();
      }
    }
    assert.equal((await barge.server.spool.list()).length, 0, 'the probes delivered nothing');
  } finally {
    await barge.stop();
  }
});
