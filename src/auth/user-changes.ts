/** The one place users are added, changed or removed (`barge user` and the web console both call it). */
import { hashPassword, updateUsers, UserStore, usersPath } from './users.js';

export type UserChange =
  | {
      readonly action: 'add';
      readonly name: string;
      readonly password: string;
      readonly addresses?: readonly string[];
      readonly admin?: boolean;
    }
  | { readonly action: 'passwd'; readonly name: string; readonly password: string; readonly addresses?: readonly string[] }
  | { readonly action: 'del'; readonly name: string };

export const USER_NAME = /^[^\s:#,]+$/;

/** Applies one change; returns an error message for the user, or undefined when done. */
export async function changeUser(dataDir: string, change: UserChange): Promise<string | undefined> {
  const path = usersPath(dataDir);
  const name = change.name.toLowerCase();
  if (!USER_NAME.test(name)) return `invalid user name ${JSON.stringify(change.name)}`;
  const existing = (await UserStore.load(path)).get(name);
  if (change.action === 'add' && existing !== undefined) return `user ${name} exists; use passwd`;
  if (change.action !== 'add' && existing === undefined) return `no user ${name}`;
  if (change.action === 'del') {
    await updateUsers(path, (all) => all.filter((u) => u.name !== name));
    return undefined;
  }
  if (change.password === '') return 'empty password refused';
  const hash = await hashPassword(change.password);
  const addresses = (change.addresses ?? []).map((a) => a.toLowerCase());
  const admin = change.action === 'add' && change.admin === true ? { admin: true } : {};
  await updateUsers(path, (all) =>
    change.action === 'add'
      ? [...all, { name, hash, addresses, ...admin }]
      : all.map((u) => (u.name === name ? { ...u, hash, addresses: addresses.length > 0 ? addresses : u.addresses } : u)),
  );
  return undefined;
}
