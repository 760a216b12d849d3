/**
 * `barge user add|passwd|del|list`: manages `<dataDir>/users` (see auth/users.ts). Passwords come
 * from the first line of standard input (`--password-stdin`, or whatever is piped); they are never
 * taken from the command line, where other users could read them in the process list.
 * The changes themselves are auth/user-changes.ts, which the web console calls too.
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { UserStore, usersPath } from '../auth/users.js';
import { changeUser, USER_NAME, type UserChange } from '../auth/user-changes.js';

const USAGE =
  'usage: barge user add NAME [--admin] [--password-stdin] [--address ADDR]... | passwd NAME [--password-stdin] | del NAME | list';

async function firstLine(input: NodeJS.ReadableStream): Promise<string> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  for await (const line of lines) {
    lines.close();
    return line.replace(/\r$/, '');
  }
  return '';
}

export async function runUser(
  args: readonly string[],
  dataDir: string,
  input: NodeJS.ReadableStream,
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: { 'password-stdin': { type: 'boolean' }, address: { type: 'string', multiple: true }, admin: { type: 'boolean' } },
    allowPositionals: true,
  });
  const [action, rawName] = positionals;
  const path = usersPath(dataDir);
  const name = rawName?.toLowerCase();
  if (action === 'list') {
    for (const u of (await UserStore.load(path)).list())
      out(`${u.name}${u.admin === true ? ' [admin]' : ''}${u.addresses.length === 0 ? '' : ` (also ${u.addresses.join(', ')})`}`);
    return 0;
  }
  if ((action !== 'add' && action !== 'passwd' && action !== 'del') || name === undefined || !USER_NAME.test(name)) {
    err(USAGE);
    return 2;
  }
  const store = await UserStore.load(path);
  if ((action === 'add') === (store.get(name) !== undefined)) {
    err(`barge: ${action === 'add' ? `user ${name} exists; use passwd` : `no user ${name}`}`);
    return 1;
  }
  let password = '';
  if (action !== 'del') {
    if (values['password-stdin'] !== true && 'isTTY' in input && input.isTTY === true) err('password (one line):');
    password = await firstLine(input);
  }
  const addresses = values.address ?? [];
  const change: UserChange =
    action === 'del'
      ? { action, name }
      : action === 'add'
        ? { action, name, password, addresses, admin: values.admin === true }
        : { action, name, password, addresses };
  const problem = await changeUser(dataDir, change);
  if (problem !== undefined) {
    err(`barge: ${problem}`);
    return problem.startsWith('empty') ? 2 : 1;
  }
  out(
    action === 'del'
      ? `deleted ${name}`
      : `${action === 'add' ? 'added' : 'changed password of'} ${name}${values.admin === true ? ' (admin)' : ''}`,
  );
  return 0;
}
