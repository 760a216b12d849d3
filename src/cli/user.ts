/**
 * `barge user add|passwd|del|list`: manages `<dataDir>/users` (see auth/users.ts). Passwords come
 * from the first line of standard input (`--password-stdin`, or whatever is piped); they are never
 * taken from the command line, where other users could read them in the process list.
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { hashPassword, updateUsers, UserStore, usersPath } from '../auth/users.js';

const USAGE = 'usage: barge user add NAME [--password-stdin] [--address ADDR]... | passwd NAME [--password-stdin] | del NAME | list';

async function firstLine(input: NodeJS.ReadableStream): Promise<string> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  for await (const line of lines) {
    lines.close();
    return line.replace(/\r$/, '');
  }
  return '';
}

export async function runUser(args: readonly string[], dataDir: string, input: NodeJS.ReadableStream, out: (line: string) => void, err: (line: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({ args: [...args], options: { 'password-stdin': { type: 'boolean' }, address: { type: 'string', multiple: true } }, allowPositionals: true });
  const [action, rawName] = positionals;
  const path = usersPath(dataDir);
  const name = rawName?.toLowerCase();
  if (action === 'list') {
    for (const u of (await UserStore.load(path)).list()) out(u.addresses.length === 0 ? u.name : `${u.name} (also ${u.addresses.join(', ')})`);
    return 0;
  }
  if ((action !== 'add' && action !== 'passwd' && action !== 'del') || name === undefined || !/^[^\s:#,]+$/.test(name)) {
    err(USAGE);
    return 2;
  }
  const existing = (await UserStore.load(path)).get(name);
  if (action === 'add' && existing !== undefined) {
    err(`barge: user ${name} exists; use passwd`);
    return 1;
  }
  if (action !== 'add' && existing === undefined) {
    err(`barge: no user ${name}`);
    return 1;
  }
  if (action === 'del') {
    await updateUsers(path, (all) => all.filter((u) => u.name !== name));
    out(`deleted ${name}`);
    return 0;
  }
  if (values['password-stdin'] !== true && 'isTTY' in input && input.isTTY === true) err('password (one line):');
  const password = await firstLine(input);
  if (password === '') {
    err('barge: empty password refused');
    return 2;
  }
  const hash = await hashPassword(password);
  const addresses = (values.address ?? []).map((a) => a.toLowerCase());
  await updateUsers(path, (all) =>
    action === 'add' ? [...all, { name, hash, addresses }] : all.map((u) => (u.name === name ? { ...u, hash, addresses: addresses.length > 0 ? addresses : u.addresses } : u)),
  );
  out(`${action === 'add' ? 'added' : 'changed password of'} ${name}`);
  return 0;
}
