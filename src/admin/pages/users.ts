/** Users: AUTH users and console administrators; add, remove, change password (auth/users.ts via cli/user.ts). */
import { html } from 'hono/html';
import { UserStore, usersPath } from '../../auth/users.js';
import { changeUser } from '../../cli/user.js';
import { action, pill, table, type PageContext } from '../layout.js';
import { done, field, flashOf, type AdminApp, type PageDeps, type RequestOf } from '../routes.js';

export function registerUsers(app: AdminApp, request: RequestOf, deps: PageDeps): void {
  app.get('/users', async (c) => {
    const r = request(c);
    const ctx: PageContext = { hostname: '', user: r.session.user, csrf: r.session.csrf, path: '/users' };
    const users = (await UserStore.load(usersPath(deps.server.config().dataDir))).list();
    const setup = c.req.query('setup') !== undefined && !users.some((u) => u.admin === true);
    const body = html`${setup ? html`<div class="flash">Welcome. You came in with the one-time setup link: add an administrator now, then log in as that user.</div>` : ''}
${table(['User', 'Role', 'Also sends as', 'Change password', ''], users.map((u) => html`<tr><td class="mono">${u.name}</td><td>${u.admin === true ? pill('admin') : 'AUTH user'}</td><td class="mono">${u.addresses.join(', ') || '–'}</td>
<td><form class="inline" method="post" action="/users/passwd"><input type="hidden" name="_csrf" value="${r.session.csrf}"><input type="hidden" name="name" value="${u.name}"><input type="password" name="password" autocomplete="new-password" placeholder="new password" required> <button class="plain" type="submit">Change</button></form></td>
<td>${action(ctx, '/users/del', 'Remove', { name: u.name }, { confirm: `Remove ${u.name}?`, danger: true })}</td></tr>`), 'No users yet.')}
<h2>Add a user</h2><form class="filters" method="post" action="/users/add"><input type="hidden" name="_csrf" value="${r.session.csrf}">
<label>Name<input name="name" autocomplete="off" required placeholder="alice@example.com"></label><label>Password<input name="password" type="password" autocomplete="new-password" required></label>
<label>Also sends as<input name="addresses" placeholder="alias@example.com, @example.org"></label><label><span>Administrator</span><input type="checkbox" name="admin" ${setup ? 'checked' : ''}></label><button type="submit">Add</button></form>`;
    return r.page('Users', body, flashOf(c));
  });
  for (const op of ['add', 'passwd', 'del'] as const) {
    app.post(`/users/${op}`, async (c) => {
      const name = await field(c, 'name');
      const password = await field(c, 'password');
      const addresses = (await field(c, 'addresses')).split(',').map((a) => a.trim()).filter((a) => a !== '');
      const dataDir = deps.server.config().dataDir;
      const problem = await changeUser(dataDir, op === 'del' ? { action: op, name } : op === 'add' ? { action: op, name, password, addresses, admin: (await field(c, 'admin')) === 'on' } : { action: op, name, password });
      return done(c, '/users', problem ?? `${op === 'add' ? 'Added' : op === 'del' ? 'Removed' : 'Changed the password of'} ${name.toLowerCase()}`, problem !== undefined);
    });
  }
}
