/**
 * The users who may AUTH, in `<dataDir>/users`: one per line,
 *
 *     alice@example.test:scrypt$16384$8$1$<salt base64>$<key base64>[:alias@example.test,@example.org[:admin]]
 *
 * Names are lower case (usually the user's address). A password is kept only as a salted scrypt
 * key (RFC 7914; N, r and p are stored per entry so they can change later), checked in constant
 * time. The optional third field lists more MAIL FROM addresses the user may use on a submission
 * listener; "@domain" allows every address of that domain. A fourth field "admin" lets the user log in
 * to the web console. Lines starting with "#" are comments.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { writeFileDurably } from '../fs/durable-write.js';
import { dirname, join } from 'node:path';

export interface UserEntry {
  readonly name: string;
  readonly hash: string;
  readonly addresses: readonly string[];
  /** May log in to the web console. */
  readonly admin?: boolean;
}

const PARAMS = { N: 16384, r: 8, p: 1 } as const;
const KEY_LENGTH = 32;

export function usersPath(dataDir: string): string {
  return join(dataDir, 'users');
}

function derive(password: string, salt: Buffer, options: ScryptOptions, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, length, { ...options, maxmem: 256 * 1024 * 1024 }, (e, key) => (e ? reject(e) : resolve(key))),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, PARAMS, KEY_LENGTH);
  return `scrypt$${PARAMS.N}$${PARAMS.r}$${PARAMS.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** False, never a throw, for a malformed hash. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  const m = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(hash);
  if (m === null) return false;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const expected = Buffer.from(m[5] ?? '', 'base64');
  if (expected.length < 16 || N > 1 << 20 || r > 32 || p > 16) return false;
  try {
    const key = await derive(password, Buffer.from(m[4] ?? '', 'base64'), { N, r, p }, expected.length);
    return timingSafeEqual(key, expected);
  } catch {
    return false;
  }
}

export function parseUsers(text: string): UserEntry[] {
  const out: UserEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [name = '', hash = '', aliases = '', roles = ''] = line.split(':');
    if (name === '' || hash === '') continue;
    const addresses = aliases
      .split(',')
      .map((a) => a.trim().toLowerCase())
      .filter((a) => a !== '');
    out.push({ name: name.toLowerCase(), hash, addresses, ...(roles.split(',').includes('admin') ? { admin: true } : {}) });
  }
  return out;
}

export function formatUsers(entries: readonly UserEntry[]): string {
  const header = '# Barge AUTH users: name:scrypt-hash[:more,sender,addresses[:admin]]. Edit with `barge user`.\n';
  const tail = (e: UserEntry): string =>
    e.admin === true ? `:${e.addresses.join(',')}:admin` : e.addresses.length === 0 ? '' : `:${e.addresses.join(',')}`;
  return header + entries.map((e) => `${e.name}:${e.hash}${tail(e)}\n`).join('');
}

export class UserStore {
  readonly #users: ReadonlyMap<string, UserEntry>;
  /** Spent on unknown names too, so timing does not tell which names exist. */
  static #dummy: Promise<string> | undefined;

  private constructor(entries: readonly UserEntry[]) {
    this.#users = new Map(entries.map((e) => [e.name, e]));
  }

  /** A missing file is an empty store. */
  static async load(path: string): Promise<UserStore> {
    const text = await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return '';
      throw e;
    });
    return new UserStore(parseUsers(text));
  }

  get(name: string): UserEntry | undefined {
    return this.#users.get(name.toLowerCase());
  }

  list(): UserEntry[] {
    return [...this.#users.values()];
  }

  async verify(name: string, password: string): Promise<UserEntry | undefined> {
    const entry = this.get(name);
    if (entry === undefined) {
      await verifyPassword(password, await (UserStore.#dummy ??= hashPassword(randomBytes(16).toString('hex'))));
      return undefined;
    }
    return (await verifyPassword(password, entry.hash)) ? entry : undefined;
  }

  mayUseSender(name: string, address: string): boolean {
    const entry = this.get(name);
    if (entry === undefined) return false;
    const a = address.toLowerCase();
    const domain = a.slice(a.lastIndexOf('@'));
    return a === entry.name || entry.addresses.some((x) => x === a || (x.startsWith('@') && x === domain));
  }
}

/**
 * The users file as it is now, read again only when it changed: a stat per call, so the console can
 * check every request's session against it. A rewrite (`updateUsers`) renames a new file into place,
 * so its inode changes even when size and time would not.
 */
export class UserFile {
  readonly #path: string;
  #seen: { readonly key: string; readonly store: Promise<UserStore> } | undefined;

  constructor(path: string) {
    this.#path = path;
  }

  async current(): Promise<UserStore> {
    const s = await stat(this.#path, { bigint: true }).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw e;
    });
    const key = s === undefined ? 'missing' : `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
    if (this.#seen?.key !== key) this.#seen = { key, store: UserStore.load(this.#path) };
    const seen = this.#seen;
    return seen.store.catch((e: unknown) => {
      if (this.#seen === seen) this.#seen = undefined;
      throw e;
    });
  }
}

/** Rewrites the file atomically: a 0600 temporary file, fsync, rename, fsync of the directory. */
export async function updateUsers(path: string, change: (entries: UserEntry[]) => UserEntry[]): Promise<void> {
  const current = (await UserStore.load(path)).list();
  const next = change(current);
  await mkdir(dirname(path), { recursive: true });
  await writeFileDurably(path, formatUsers(next), { mode: 0o600 });
}
