/** Configuration: defaults, TOML keys, IIS masks, flags, and errors that name the key and line. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { ConfigError } from './assemble.js';
import { buildConfig } from './validate.js';

const toml = (text: string): { text: string; file: string } => ({ text, file: 'barge.toml' });

test('the embedded default needs no file', () => {
  const c = buildConfig(undefined, {}, 'Host.Example');
  assert.equal(c.hostname, 'host.example');
  assert.equal(c.dataDir, resolve('./var'));
  assert.deepEqual(c.localDomains, ['localhost', 'host.example']);
  assert.equal(c.localRecipients, undefined);
  assert.deepEqual(c.relayNetworks, ['127.0.0.0/8', '::1/128']);
  assert.equal(c.listeners.length, 1);
  const [l] = c.listeners;
  assert.deepEqual(
    [l?.name, l?.host, l?.port, l?.inboundMask, l?.logFolder, l?.vrfy, l?.expn],
    ['smtp', '127.0.0.1', 2525, 7697601, 'SMTPSVC1', 'cannot', false],
  );
  assert.deepEqual([...(l?.extensions ?? [])].sort(), [
    '8BITMIME',
    'BINARYMIME',
    'CHUNKING',
    'DSN',
    'ENHANCEDSTATUSCODES',
    'ETRN',
    'HELP',
    'PIPELINING',
    'SIZE',
    'SMTPUTF8',
  ]);
  assert.equal(c.limits.maxMessageSize, 52428800);
  assert.equal(c.limits.maxRecipients, 100);
  assert.equal(c.limits.commandTimeoutMs, 300_000);
  assert.equal(c.smuggling, 'reject');
  assert.deepEqual(c.log.w3c.fields, ['time', 'c-ip', 'cs-method', 'cs-uri-stem', 'sc-status']);
  assert.equal(c.delivery.outboundMask, 7);
  // The end-of-data wait stays at minutes; only the check chunk of an unknown path waits 30 s.
  assert.deepEqual([c.delivery.replyTimeoutMs, c.delivery.bdatCheckTimeoutMs], [300_000, 30_000]);
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.limits));
});

test('[delivery] bdat_check_timeout takes a duration', () => {
  assert.equal(buildConfig(toml('[delivery]\nbdat_check_timeout = "10s"'), {}, 'h.example').delivery.bdatCheckTimeoutMs, 10_000);
});

test('a full file is read, with sizes and durations in words', () => {
  const c = buildConfig(
    toml(`
hostname = "mx.example.com"
data_dir = "/srv/barge"
local_domains = ["Example.com"]
local_recipients = ["Alice@example.com"]
relay_networks = ["10.0.0.0/8"]
smuggling = "normalise"
[limits]
max_message_size = "10 MiB"
max_recipients = 5
command_timeout = "30s"
data_timeout = 1500
[listener.mx]
listen = "[::1]:25"
vrfy = "off"
expn = true
[listener.submission]
listen = "0.0.0.0:587"
[log]
w3c_flags = 4095
tracking = false
[queue]
scan_interval = "2m"
[delivery]
outbound_command_support = 5
`),
    {},
    'ignored',
  );
  assert.equal(c.hostname, 'mx.example.com');
  assert.equal(c.dataDir, '/srv/barge');
  assert.deepEqual(c.localDomains, ['example.com']);
  assert.deepEqual(c.localRecipients, ['alice@example.com']);
  assert.equal(c.smuggling, 'normalise');
  assert.equal(c.limits.maxMessageSize, 10 * 1024 * 1024);
  assert.equal(c.limits.commandTimeoutMs, 30_000);
  assert.equal(c.limits.dataBlockTimeoutMs, 1500);
  assert.deepEqual(
    c.listeners.map((l) => [l.name, l.host, l.port, l.logFolder]),
    [
      ['mx', '::1', 25, 'SMTPSVC1'],
      ['submission', '0.0.0.0', 587, 'SMTPSVC2'],
    ],
  );
  assert.equal(c.listeners[0]?.vrfy, 'off');
  assert.equal(c.listeners[0]?.expn, true);
  assert.ok(c.log.w3c.fields.length > 5);
  assert.equal(c.log.tracking, false);
  assert.equal(c.queue.scanIntervalMs, 120_000);
  assert.equal(c.delivery.outboundMask, 5);
});

test('the IIS mask 4551873 turns CHUNKING and BINARYMIME off; named switches win over the mask', () => {
  const masked = buildConfig(toml('[listener.smtp]\ninbound_command_support = 4551873'), {}, 'h');
  const ext = masked.listeners[0]?.extensions;
  assert.equal(ext?.has('CHUNKING'), false);
  assert.equal(ext?.has('BINARYMIME'), false);
  assert.equal(ext?.has('8BITMIME'), true);
  assert.equal(masked.listeners[0]?.inboundMask, 4551873);
  const named = buildConfig(toml('[listener.smtp]\ninbound_command_support = 4551873\nchunking = true\ndsn = false'), {}, 'h');
  assert.equal(named.listeners[0]?.extensions.has('CHUNKING'), true);
  assert.equal(named.listeners[0]?.extensions.has('BINARYMIME'), false, 'still off by the mask');
  assert.equal(named.listeners[0]?.extensions.has('DSN'), false);
  const off = buildConfig(toml('[listener.smtp]\nchunking = false'), {}, 'h');
  assert.equal(off.listeners[0]?.extensions.has('BINARYMIME'), false, 'BINARYMIME needs CHUNKING');
});

test('flags override the file; extra --listen copies the first listener', () => {
  const c = buildConfig(
    toml('[listener.smtp]\nlisten = "0.0.0.0:25"\nchunking = false\n[limits]\nmax_message_size = 1000'),
    {
      listen: ['127.0.0.1:2600', '127.0.0.1:2601'],
      dataDir: 'd',
      hostname: 'Flag.Test',
      localDomain: ['a.test', 'A.test'],
      maxMessageSize: '2MB',
    },
    'h',
  );
  assert.deepEqual(
    c.listeners.map((l) => [l.name, l.port, l.logFolder, l.extensions.has('CHUNKING')]),
    [
      ['smtp', 2600, 'SMTPSVC1', false],
      ['smtp-2', 2601, 'SMTPSVC2', false],
    ],
  );
  assert.equal(c.hostname, 'flag.test');
  assert.equal(c.dataDir, resolve('d'));
  assert.deepEqual(c.localDomains, ['a.test']);
  assert.equal(c.limits.maxMessageSize, 2 * 1024 * 1024);
});

const errorOf = (text: string): string => {
  try {
    buildConfig(toml(text), {}, 'h');
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.message;
  }
  assert.fail('no error');
};

test('errors name the key and the line', () => {
  assert.match(
    errorOf('hostname = "a"\n\n[limits]\nmax_message_size = "lots"'),
    /^barge\.toml line 4: limits\.max_message_size: expected a size/,
  );
  assert.match(errorOf('[limits]\nmax_recipeints = 5'), /line 2: limits: unknown key "max_recipeints"/);
  assert.match(errorOf('relay_networks = ["10.0.0.0/33"]'), /line 1: relay_networks\.0: expected an address or CIDR/);
  assert.match(errorOf('[listener.smtp]\n\nlisten = "nowhere"'), /line 3: listener\.smtp\.listen: expected HOST:PORT/);
  assert.match(errorOf('[listener.smtp]\nchunking = "no"'), /line 2: listener\.smtp\.chunking/);
  assert.match(errorOf('smuggling = "allow"'), /line 1: smuggling/);
  assert.match(errorOf('[log]\nw3c_fields = ["time"]\nw3c_flags = 4'), /w3c_fields or w3c_flags/);
  assert.match(errorOf('[log]\nw3c_fields = ["time", "bogus"]'), /log\.w3c_fields: .*bogus/);
  assert.match(errorOf('hostname = "unterminated'), /^barge\.toml line 1: /);
  assert.throws(() => buildConfig(undefined, { maxMessageSize: 'huge' }, 'h'), /--max-message-size/);
  assert.throws(() => buildConfig(undefined, { listen: ['1.2.3.4'] }, 'h'), /--listen: expected HOST:PORT/);
});

test('delivery settings: routes, smart host, DNS servers, schedule; --route wins for its domain', () => {
  const c = buildConfig(
    toml(`
smart_host = "relay.example.net:587"
[routes]
"Example.com" = "mx.internal:25"
"other.test" = "10.0.0.1:2525"
[dns]
servers = ["127.0.0.1:5353"]
[delivery]
chunking = "never"
chunk_size = "256KB"
retry_schedule = ["1m", "2m"]
max_queue_lifetime = "2d"
port = 2525
`),
    { route: ['other.test=127.0.0.1:26'] },
    'h',
  );
  const d = c.delivery;
  assert.deepEqual(d.smartHost, { host: 'relay.example.net', port: 587 });
  assert.deepEqual(d.routes.get('example.com'), { host: 'mx.internal', port: 25 });
  assert.deepEqual(d.routes.get('other.test'), { host: '127.0.0.1', port: 26 });
  assert.deepEqual(d.dnsServers, ['127.0.0.1:5353']);
  assert.equal(d.chunking, 'never');
  assert.equal(d.chunkSize, 256 * 1024);
  assert.deepEqual(d.retryScheduleMs, [60_000, 120_000]);
  assert.equal(d.maxQueueLifetimeMs, 2 * 86_400_000);
  assert.equal(d.remotePort, 2525);
  const defaults = buildConfig(undefined, {}, 'h').delivery;
  assert.deepEqual(defaults.retryScheduleMs, [900_000, 1_800_000, 3_600_000, 14_400_000]);
  assert.equal(defaults.maxQueueLifetimeMs, 5 * 86_400_000);
  assert.equal(defaults.smartHost, undefined);
  assert.throws(() => buildConfig(undefined, { route: ['nohost'] }, 'h'), /--route/);
  assert.match(errorOf('[routes]\n"a.test" = "nowhere"'), /line 2: routes\.a\.test: expected HOST:PORT/);
});

test('max_hops and auth_tls: defaults 50 and "verified"; a route may allow any TLS for its credentials', () => {
  const d = buildConfig(undefined, {}, 'h.example');
  assert.equal(d.limits.maxHops, 50);
  assert.equal(d.delivery.authTls, 'verified');
  const c = buildConfig(toml('[limits]\nmax_hops = 30\n[routes."a.test"]\nnext_hop = "10.0.0.1:25"\nauth_tls = "any"\n'), {}, 'h.example');
  assert.equal(c.limits.maxHops, 30);
  assert.equal(c.delivery.routeSwitches.get('a.test')?.authTls, 'any');
  assert.equal(c.delivery.authTls, 'verified');
  assert.throws(
    () => buildConfig(toml('[delivery]\nauth_tls = "none"\n'), {}, 'h'),
    (e: unknown) => e instanceof ConfigError && /line 2: delivery\.auth_tls/.test(e.message),
  );
});

test('durations are bounded: a command_timeout of "25d" (past a timer\'s 2^31-1 ms) is refused with its key and line', () => {
  assert.equal(
    errorOf('hostname = "h.example"\n[limits]\ncommand_timeout = "25d"\n'),
    'barge.toml line 3: limits.command_timeout: expected a duration from 1s to 1h, got "25d"',
  );
  // The longest allowed wait for a peer is accepted, in words or milliseconds.
  const long = buildConfig(toml('[limits]\ncommand_timeout = "1h"\ndata_timeout = 3600000\n[delivery]\nreply_timeout = "60m"\n'), {}, 'h');
  assert.deepEqual(
    [long.limits.commandTimeoutMs, long.limits.dataBlockTimeoutMs, long.delivery.replyTimeoutMs],
    [3_600_000, 3_600_000, 3_600_000],
  );
  assert.match(errorOf('[limits]\ndata_timeout = 0\n'), /line 2: limits\.data_timeout: expected a duration from 1s to 1h, got 0/);
  assert.match(errorOf('[queue]\nscan_interval = "2d"\n'), /line 2: queue\.scan_interval: expected a duration from 1s to 1d/);
  assert.match(errorOf('[mail_auth]\ntime_budget = "10m"\n'), /line 2: mail_auth\.time_budget: expected a duration from 0s to 5m/);
  // Keys that are no timeout still stay within what a timer can hold.
  assert.match(
    errorOf('[delivery]\nmax_queue_lifetime = "30d"\n'),
    /line 2: delivery\.max_queue_lifetime: .* to 2147483647ms \(about 24\.9d\), got "30d"/,
  );
  assert.match(
    errorOf('[delivery]\nretry_schedule = ["15m", "25d"]\n'),
    /line 2: delivery\.retry_schedule\.1: expected a duration from 1s to/,
  );
  assert.equal(buildConfig(toml('[delivery]\nmax_queue_lifetime = "24d"\n'), {}, 'h').delivery.maxQueueLifetimeMs, 24 * 86_400_000);
});
