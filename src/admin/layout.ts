/**
 * The console's page shell and small view helpers. Every page is built with hono's `html` tagged
 * template, which escapes each interpolated string: a value from mail (an address, a HELO name, a
 * log line) can only ever appear as text. `raw` is used nowhere with such a value.
 */
import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';

export type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

export const PAGES = [
  ['/', 'Overview'],
  ['/queue', 'Queue'],
  ['/tracking', 'Message tracking'],
  ['/log', 'Protocol log'],
  ['/destinations', 'Destinations'],
  ['/listeners', 'Listeners'],
  ['/users', 'Users'],
] as const;

export interface PageContext {
  readonly hostname: string;
  readonly user: string;
  readonly csrf: string;
  readonly path: string;
  readonly flash?: { readonly text: string; readonly error?: boolean };
}

export function page(ctx: PageContext, title: string, body: Html): Html {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Barge on ${ctx.hostname}</title><link rel="stylesheet" href="/static/console.css"></head>
<body><header><span class="brand">Barge</span><span class="host">${ctx.hostname}</span>
<form method="post" action="/logout">${csrfField(ctx.csrf)}<span class="host">${ctx.user}</span> <button type="submit">Log out</button></form></header>
<nav>${PAGES.map(([href, name]) => html`<a href="${href}" class="${href === ctx.path ? 'on' : ''}">${name}</a>`)}</nav>
<main>${ctx.flash === undefined ? '' : html`<div class="flash ${ctx.flash.error === true ? 'error' : ''}" role="status">${ctx.flash.text}</div>`}<h1>${title}</h1>${body}</main>
<script src="/static/console.js"></script></body></html>`;
}

export function loginPage(hostname: string, message?: { readonly error: string } | { readonly notice: string }): Html {
  const flash =
    message === undefined
      ? ''
      : 'error' in message
        ? html`<div class="flash error" role="alert">${message.error}</div>`
        : html`<div class="flash" role="status">${message.notice}</div>`;
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Log in · Barge on ${hostname}</title><link rel="stylesheet" href="/static/console.css"></head>
<body><div class="login"><h1>Barge on ${hostname}</h1>
${flash}
<form method="post" action="/login"><label>Admin user<input name="user" autocomplete="username" required autofocus></label>
<label>Password<input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Log in</button></form>
<p class="muted">Add an administrator with <code>barge user add NAME --admin --password-stdin</code>.</p></div></body></html>`;
}

export function csrfField(token: string): Html {
  return html`<input type="hidden" name="_csrf" value="${token}">`;
}

/** A one-button POST form (actions are never GETs). */
export function action(
  ctx: PageContext,
  path: string,
  label: string,
  fields: Readonly<Record<string, string>> = {},
  options: { confirm?: string; danger?: boolean } = {},
): Html {
  const hidden = Object.entries(fields).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`);
  const tone = options.danger === true ? 'danger' : 'plain';
  const confirm = options.confirm === undefined ? '' : html`data-confirm="${options.confirm}"`;
  const button = html`<button type="submit" class="${tone}" ${confirm}>${label}</button>`;
  return html`<form class="inline" method="post" action="${path}">${csrfField(ctx.csrf)}${hidden}${button}</form>`;
}

export function table(headers: readonly string[], rows: readonly Html[], empty = 'Nothing to show.'): Html {
  const head = html`<thead><tr>${headers.map((h) => html`<th>${h}</th>`)}</tr></thead>`;
  const none = html`<tr><td colspan="${headers.length}" class="muted">${empty}</td></tr>`;
  return html`<table>${head}<tbody>${rows.length === 0 ? none : rows}</tbody></table>`;
}

/** The colour of a state's pill, from the word it starts with. */
function toneOf(text: string): string {
  if (/^(delivered|up|ok|clean)/.test(text)) return 'ok';
  if (/^(deferred|held|queued|no-)/.test(text)) return 'warn';
  if (/^(bounced|rejected|down|failed)/.test(text)) return 'bad';
  return '';
}

export function pill(text: string, tone = toneOf(text)): Html {
  return html`<span class="pill ${tone}">${text}</span>`;
}

/** "3 min ago" style ages for ISO times. */
export function age(iso: string, now: Date): string {
  const s = Math.max(0, Math.round((now.getTime() - Date.parse(iso)) / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} d`;
}
