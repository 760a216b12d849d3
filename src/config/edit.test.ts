import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { consoleConfigPath, CONSOLE_HEADER, defaultConfigPath, readConfigText, setTomlKeys } from './edit.js';
import { buildConfig } from './validate.js';

const FILE = `# mine
hostname = "mx.example.test"

[listener.smtp]   # the public one
listen = "127.0.0.1:2525"
chunking = false  # old switch
pipelining = false

[log]
w3c = true
`;

test('setTomlKeys changes only the named keys of one table and keeps comments and layout', () => {
  const out = setTomlKeys(FILE, ['listener', 'smtp'], {
    inbound_command_support: 4551873,
    chunking: undefined,
    pipelining: undefined,
    help: false,
  });
  assert.equal(
    out,
    FILE.replace('chunking = false  # old switch\npipelining = false\n', 'inbound_command_support = 4551873\nhelp = false\n'),
  );
  const config = buildConfig({ text: out, file: 'x.toml' }, {}, 'h');
  assert.equal(config.listeners[0]?.inboundMask, 4551873);
  assert.equal(config.listeners[0]?.extensions.has('CHUNKING'), false);
  assert.equal(config.listeners[0]?.extensions.has('PIPELINING'), true);
});

test('setTomlKeys appends a missing table, quoting names that need it', () => {
  assert.equal(
    setTomlKeys('# only a comment\n', ['listener', 'smtp'], { chunking: false }),
    '# only a comment\n\n[listener.smtp]\nchunking = false\n',
  );
  assert.equal(setTomlKeys('', ['routes', 'a.example'], { x: 'y' }), '[routes."a.example"]\nx = "y"\n');
  assert.equal(setTomlKeys('[delivery]\n', ['delivery'], { outbound_command_support: 5 }), '[delivery]\noutbound_command_support = 5\n');
});

test('an edit starts from the console header only when the file does not exist; any other read failure throws', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'barge-edit-'));
  try {
    assert.equal(await readConfigText(join(dir, 'console.toml')), CONSOLE_HEADER);
    // A directory in the file's place (root ignores permissions, so EACCES cannot be shown here).
    await assert.rejects(readConfigText(dir), { message: `cannot read ${dir}: is a directory (EISDIR)` });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('without --config: the system file unless --data-dir names an instance, then the console file of the data directory', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'barge-edit-'));
  try {
    const system = join(dir, 'barge.toml');
    const dataDir = join(dir, 'var');
    assert.equal(defaultConfigPath('mine.toml', dataDir, system), 'mine.toml');
    assert.equal(defaultConfigPath(undefined, dataDir, system), undefined, 'neither file exists: the defaults');
    await writeFile(system, '');
    assert.equal(defaultConfigPath(undefined, undefined, system), system);
    assert.equal(defaultConfigPath(undefined, dataDir, system), undefined, "--data-dir: not the installed server's file");
    await mkdir(dataDir);
    await writeFile(consoleConfigPath(dataDir), CONSOLE_HEADER);
    assert.equal(defaultConfigPath(undefined, dataDir, system), consoleConfigPath(dataDir));
    assert.equal(defaultConfigPath(undefined, undefined, system), system, 'the system file before ./var/console.toml');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
