/** Users: AUTH users and console administrators; add, remove, change password (auth/users.ts via cli/user.ts). */
import { html } from 'hono/html';
import { UserStore, usersPath } from '../../auth/users.js';
import { changeUser, type UserChange } from '../../auth/user-changes.js';
import { action, pill, table, type Html, type PageContext } from '../layout.js';
import { done, field, flashOf, type AdminApp, type PageDeps, type RequestOf } from '../page-kit.js';

const SETUP_WELCOME = 'Welcome. You came in with the one-time setup link: add an administrator now, then log in as that user.';

function passwordForm(csrf: string, name: string): Html {
  const hidden = html`<input type="hidden" name="_csrf" value="${csrf}"><input type="hidden" name="name" value="${name}">`;
  const password = html`<input type="password" name="password" autocomplete="new-password" placeholder="new password" required>`;
  return html`<form class="inline" method="post" action="/users/passwd">${hidden}${password} <button class="plain" type="submit">Change</button></form>`;
}

function addForm(csrf: string, admin: boolean): Html {
  const name = html`<label>Name<input name="name" autocomplete="off" required placeholder="alice@example.com"></label>`;
  const password = html`<label>Password<input name="password" type="password" autocomplete="new-password" required></label>`;
  const addresses = html`<label>Also sends as<input name="addresses" placeholder="alias@example.com, @example.org"></label>`;
  const adminBox = html`<label><span>Administrator</span><input type="checkbox" name="admin" ${admin ? 'checked' : ''}></label>`;
  return html`<form class="filters" method="post" action="/users/add"><input type="hidden" name="_csrf" value="${csrf}">
${name}${password}
${addresses}${adminBox}<button type="submit">Add</button></form>`;
}

export function registerUsers(app: AdminApp, request: RequestOf, deps: PageDeps): void {
  app.get('/users', async (c) => {
    const r = request(c);
    const ctx: PageContext = { hostname: '', user: r.session.user, csrf: r.session.csrf, path: '/users' };
    const users = (await UserStore.load(usersPath(deps.server.config().dataDir))).list();
    const setup = c.req.query('setup') !== undefined && !users.some((u) => u.admin === true);
    const welcome = html`<div class="flash">${SETUP_WELCOME}</div>`;
    const rows = users.map((u) => {
      const role = u.admin === true ? pill('admin') : 'AUTH user';
      const remove = action(ctx, '/users/del', 'Remove', { name: u.name }, { confirm: `Remove ${u.name}?`, danger: true });
      return html`<tr><td class="mono">${u.name}</td><td>${role}</td><td class="mono">${u.addresses.join(', ') || '–'}</td>
<td>${passwordForm(r.session.csrf, u.name)}</td>
<td>${remove}</td></tr>`;
    });
    const body = html`${setup ? welcome : ''}
${table(['User', 'Role', 'Also sends as', 'Change password', ''], rows, 'No users yet.')}
<h2>Add a user</h2>${addForm(r.session.csrf, setup)}`;
    return r.page('Users', body, flashOf(c));
  });
  for (const op of ['add', 'passwd', 'del'] as const) {
    app.post(`/users/${op}`, async (c) => {
      const name = await field(c, 'name');
      const password = await field(c, 'password');
      const addresses = (await field(c, 'addresses'))
        .split(',')
        .map((a) => a.trim())
        .filter((a) => a !== '');
      const dataDir = deps.server.config().dataDir;
      const change: UserChange =
        op === 'del'
          ? { action: op, name }
          : op === 'add'
            ? { action: op, name, password, addresses, admin: (await field(c, 'admin')) === 'on' }
            : { action: op, name, password };
      const problem = await changeUser(dataDir, change);
      const session = c.get('session');
      if (problem === undefined && op === 'passwd' && name.toLowerCase() === session.user) await deps.auth.keepAfterPasswordChange(session);
      // The first administrator ends the setup session: the next page is the login form.
      if (problem === undefined && change.action === 'add' && change.admin === true && session.setup)
        return c.redirect('/login?added=1', 303);
      const verb = op === 'add' ? 'Added' : op === 'del' ? 'Removed' : 'Changed the password of';
      return done(c, '/users', problem ?? `${verb} ${name.toLowerCase()}`, problem !== undefined);
    });
  }
}
