/**
 * Who Barge runs as. `barge serve` started as root with `user` set (or --user) binds every listener
 * first (SMTP and the console: ports below 1024 need root), gives the data directory to that user
 * (fs/ownership.ts), then becomes the user for good, before it opens a single file: the user's
 * supplementary groups from the group database (initgroups: root's own are dropped, and a group
 * such as ssl-cert that the administrator added the user to is kept), then the group, then the
 * user, in that order (after setuid the groups could no longer be changed), and a check that root
 * cannot be taken back. Started as root without `user`, it warns and goes on as root: a container
 * or a checkout's `npm start` is often root, and refusing would break them (Postfix refuses;
 * under systemd the shipped unit never runs Barge as root). Not root, `user` must be who it
 * already is (as under the unit's User=): only root can become someone else.
 *
 * Commands run as root on a data directory another user owns become that user first (as `sudo -u`
 * would), so the files they write (users, DKIM keys, queue requests) are ones the server can read.
 */
import { execFileSync } from 'node:child_process';
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import type { Config, RunAs } from '../config/types.js';
import { ConfigError } from '../config/load.js';
import { giveTree } from '../fs/ownership.js';
import { systemErrorCode } from '../config/system-errors.js';
import { CONSOLE_WHAT, listenerWhat, Prebound } from '../server/listen.js';

export interface Account {
  /** Undefined for a uid without an entry in the password database. */
  readonly name: string | undefined;
  readonly uid: number;
  readonly gid: number;
}

/** One entry of a system database through getent (so NSS sources count, not only /etc/passwd); undefined when none. */
function getent(database: 'passwd' | 'group', key: string): string[] | undefined {
  try {
    return execFileSync('getent', [database, key], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n')[0]
      ?.split(':');
  } catch {
    return undefined;
  }
}

/** The uid and gid `runAs` names: the group's, else the user's own. A name that does not exist is a ConfigError. */
export function lookUpAccount(runAs: RunAs): Account {
  const user = getent('passwd', runAs.user);
  if (user === undefined) throw new ConfigError(`user ${JSON.stringify(runAs.user)}: no such user`);
  const group = runAs.group === undefined ? undefined : getent('group', runAs.group);
  if (runAs.group !== undefined && group === undefined) throw new ConfigError(`group ${JSON.stringify(runAs.group)}: no such group`);
  return { name: user[0], uid: Number(user[2]), gid: Number(group === undefined ? user[3] : group[2]) };
}

/** What `barge serve` does about its identity, from who it is (`euid`, `uid`, `gid`) and the configuration. */
export type IdentityPlan =
  | { readonly kind: 'stay' }
  | { readonly kind: 'warn-root' }
  | { readonly kind: 'become'; readonly account: Account }
  | { readonly kind: 'refuse'; readonly reason: string };

export function planIdentity(
  runAs: RunAs | undefined,
  self: { readonly euid: number; readonly uid: number; readonly gid: number },
  account?: Account,
): IdentityPlan {
  if (runAs === undefined || account === undefined) return self.euid === 0 ? { kind: 'warn-root' } : { kind: 'stay' };
  if (self.euid === 0) return { kind: 'become', account };
  if (account.uid === self.uid && (runAs.group === undefined || account.gid === self.gid)) return { kind: 'stay' };
  const wanted = runAs.group === undefined ? `user ${runAs.user}` : `user ${runAs.user} and group ${runAs.group}`;
  return {
    kind: 'refuse',
    reason: `configured to run as ${wanted}, but running as uid ${self.uid} gid ${self.gid}: only root can become another user`,
  };
}

export const ROOT_WARNING =
  'barge: warning: running as root with no user set: the whole server (SMTP parsing, mail checks, the console, ' +
  'Maildir writes) keeps root. Set user = "barge" in the configuration (or --user barge): Barge then binds its ' +
  'ports as root and runs as that user (docs/service.md)';

/** What takeIdentity did: the sockets it bound as root (each listener takes its own), and what to say once the server is up. */
export interface Identity {
  readonly prebound: Prebound | undefined;
  /** Said after the start-up lines, so that a start that fails says only why. */
  readonly notes: readonly string[];
}

/**
 * Before the server starts: carries out the plan. `configFile`: noted when the user cannot read
 * it, since a reload reads it again as that user.
 */
export async function takeIdentity(config: Config, configFile: string | undefined): Promise<Identity> {
  if (process.geteuid === undefined || process.getuid === undefined || process.getgid === undefined)
    return { prebound: undefined, notes: [] };
  const self = { euid: process.geteuid(), uid: process.getuid(), gid: process.getgid() };
  const plan = planIdentity(config.runAs, self, config.runAs === undefined ? undefined : lookUpAccount(config.runAs));
  if (plan.kind === 'refuse') throw new ConfigError(plan.reason);
  if (plan.kind !== 'become') return { prebound: undefined, notes: plan.kind === 'warn-root' ? [ROOT_WARNING] : [] };
  const addresses = config.listeners.map((l) => ({ host: l.host, port: l.port, what: listenerWhat(l.name) }));
  if (config.admin !== undefined) addresses.push({ host: config.admin.listen.host, port: config.admin.listen.port, what: CONSOLE_WHAT });
  const prebound = await Prebound.bind(addresses);
  const notes: string[] = [];
  try {
    const given = await giveTree(config.dataDir, plan.account);
    for (const path of given.linked) notes.push(`barge: warning: ${path} has several hard links: its owner is left as it is`);
    become(plan.account);
    await mayRunNode(plan.account);
  } catch (e) {
    prebound.close();
    throw e;
  }
  notes.unshift(`barge: listeners bound as root; now running as ${describe(plan.account)}, which owns ${config.dataDir}`);
  if (configFile !== undefined && !(await readable(configFile))) {
    notes.push(
      `barge: warning: ${describe(plan.account)} cannot read ${configFile}: a reload (SIGHUP, barge reload) will fail until it can`,
    );
  }
  return { prebound, notes };
}

/**
 * A command run as root on a data directory another user owns becomes that user (and the
 * directory's group) first. Anything else, or a data directory not made yet, changes nothing.
 */
export async function actAsDataDirOwner(dataDir: string): Promise<void> {
  if (process.geteuid?.() !== 0) return;
  // A data directory that does not exist yet belongs to no one: nothing to act as.
  const st = await stat(dataDir).catch(() => undefined);
  if (st === undefined || st.uid === 0) return;
  become({ name: getent('passwd', String(st.uid))?.[0], uid: st.uid, gid: st.gid });
}

/** Groups, group, user, in that order; then proves root is gone for good. */
function become(account: Account): void {
  const { initgroups, setgroups, setgid, setuid } = process;
  if (initgroups === undefined || setgroups === undefined || setgid === undefined || setuid === undefined)
    throw new Error('this platform cannot change the user');
  if (account.name === undefined) setgroups([account.gid]);
  else initgroups(account.name, account.gid);
  setgid(account.gid);
  setuid(account.uid);
  let regained = false;
  try {
    setuid(0);
    regained = true;
  } catch {
    // EPERM: as it should be.
  }
  if (regained) throw new Error(`could not give up root for ${describe(account)}`);
}

function describe(account: Account): string {
  return `user ${account.name ?? account.uid} (uid ${account.uid}, gid ${account.gid})`;
}

/**
 * Barge runs its Node.js binary again for short-lived children (validating the configuration,
 * making a certificate): a binary the user cannot reach (under /root, as version managers install
 * it) would fail each of them with a bare EACCES, so the start fails here, saying why.
 */
async function mayRunNode(account: Account): Promise<void> {
  const ok = await access(process.execPath, constants.X_OK).then(
    () => true,
    () => false,
  );
  if (!ok) {
    throw new ConfigError(
      `${describe(account)} cannot run ${process.execPath} (Barge runs Node.js again for short-lived children): install Node.js where that user can run it`,
    );
  }
}

/** True when the file can be read, or does not exist (the console's settings file, not written yet). */
async function readable(path: string): Promise<boolean> {
  return access(path, constants.R_OK).then(
    () => true,
    (e: unknown) => systemErrorCode(e) === 'ENOENT',
  );
}
