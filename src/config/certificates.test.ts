/** `[tls."NAME"]` certificates beside the default `[tls]`, and `[acme]`: read, defaulted, and refused with the key and line. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { ConfigError } from './assemble.js';
import { buildConfig } from './validate.js';

const build = (text: string): ReturnType<typeof buildConfig> => buildConfig({ text, file: 'barge.toml' }, {}, 'h.example');
const refused = (text: string, message: RegExp): void => {
  assert.throws(
    () => build(text),
    (e: unknown) => e instanceof ConfigError && message.test(e.message),
    message.source,
  );
};

test('[tls] cert/key is the default; [tls."NAME"] tables are by lower-case name, wildcards kept', () => {
  const c = build(
    '[tls]\ncert = "d.crt"\nkey = "d.key"\n[tls."MX.example.org"]\ncert = "mx.crt"\nkey = "mx.key"\n[tls."*.example.org"]\ncert = "w.crt"\nkey = "w.key"\n',
  );
  assert.deepEqual(c.tls, { certFile: resolve('d.crt'), keyFile: resolve('d.key') });
  assert.deepEqual(
    [...c.tlsNames],
    [
      ['mx.example.org', { certFile: resolve('mx.crt'), keyFile: resolve('mx.key') }],
      ['*.example.org', { certFile: resolve('w.crt'), keyFile: resolve('w.key') }],
    ],
  );
  // Names alone: the default stays the self-signed certificate.
  const named = build('[tls."mx.example.org"]\ncert = "mx.crt"\nkey = "mx.key"\n');
  assert.equal(named.tls, undefined);
  assert.equal(named.tlsNames.size, 1);
  assert.equal(buildConfig(undefined, {}, 'h').tlsNames.size, 0);
  // --tls-cert/--tls-key replace the default only.
  const flagged = buildConfig(
    { text: '[tls."mx.example.org"]\ncert = "mx.crt"\nkey = "mx.key"\n', file: 'b.toml' },
    { tlsCert: 'f.crt', tlsKey: 'f.key' },
    'h',
  );
  assert.equal(flagged.tls?.certFile, resolve('f.crt'));
  assert.equal(flagged.tlsNames.size, 1);
});

test('bad [tls] entries are refused with their key and line', () => {
  refused('[tls]\ncert = "a.crt"\n', /^barge\.toml line 2: tls\.cert: cert and key go together$/);
  refused('[tls]\ncrt = "a.crt"\n', /^barge\.toml line 2: tls\.crt: unknown key "crt"/);
  refused('[tls."a b"]\ncert = "a"\nkey = "b"\n', /line 1: tls\.a b: expected a server name/);
  refused('[tls."mx.example.org"]\ncert = "a"\nkey = "b"\nextra = 1\n', /^barge\.toml line 4: tls\.mx\.example\.org\.extra: unknown key$/);
  refused('\n[tls."mx.example.org"]\ncert = "a"\n', /^barge\.toml line 2: tls\.mx\.example\.org\.key: /);
});

test("[acme]: names required; Let's Encrypt and port 80 unless configured; the directory must be https", () => {
  const c = build(
    '[acme]\nnames = ["MX.example.org", "smtp.example.org", "mx.example.org"]\nemail = "postmaster@example.org"\nca_file = "ca.pem"\n',
  );
  assert.deepEqual(c.acme, {
    directory: 'https://acme-v02.api.letsencrypt.org/directory',
    email: 'postmaster@example.org',
    names: ['mx.example.org', 'smtp.example.org'],
    httpListen: { host: '0.0.0.0', port: 80 },
    caFile: resolve('ca.pem'),
  });
  assert.equal(build('[acme]\nnames = ["a.example"]\nhttp_listen = "127.0.0.1:8080"\n').acme?.httpListen.port, 8080);
  assert.equal(buildConfig(undefined, {}, 'h').acme, undefined);
  refused('[acme]\nnames = []\n', /line 2: acme\.names/);
  refused('[acme]\nnames = ["a.example"]\ndirectory = "http://ca.example/dir"\n', /line 3: acme\.directory: expected the https:\/\/ URL/);
  refused('[acme]\nnames = ["*.example.org"]\n', /acme\.names\.0: expected a domain name/);
});
