/**
 * Listeners: each listener's extensions as switches beside the live IIS values
 * (`SmtpInboundCommandSupportOptions`, and the outbound value), with the EHLO reply they give.
 * Apply edits the config file (comments kept; see config/edit.ts), checks it loads, then reloads.
 */
import { writeFileDurably } from '../../fs/durable-write.js';
import { html } from 'hono/html';
import type { Context } from 'hono';
import type { Config, ListenerConfig } from '../../config/types.js';
import { readConfigText, setTomlKeys, type TomlValue } from '../../config/edit.js';
import { EXTENSIONS, INBOUND_BITS, encodeMask, outboundAllowsBdat, resolveExtensions, type Extension } from '../../protocol/extensions.js';
import type { Html } from '../layout.js';
import { ehloReply } from '../../protocol/advertisement.js';
import { formatReply } from '../../protocol/replies.js';
import { certificatesSection } from './certificates.js';
import { done, flashOf, type AdminApp, type AdminEnv, type PageDeps, type RequestOf } from '../page-kit.js';

const MASKED = new Set<string>(Object.keys(INBOUND_BITS));

export interface ListenerChoice {
  readonly inbound: number;
  readonly outbound: number;
  readonly extensions: ReadonlySet<Extension>;
  /** Named switches for the extensions without a mask bit. */
  readonly named: Readonly<Record<string, boolean>>;
}

/** The values the switches give: masked extensions through the mask, the rest as named switches. */
export function choose(listener: ListenerConfig, config: Config, on: ReadonlySet<string>, outboundBdat: boolean): ListenerChoice {
  const masked = EXTENSIONS.filter((e) => MASKED.has(e));
  const inbound = encodeMask(
    listener.inboundMask,
    masked.filter((e) => on.has(e)),
    masked.filter((e) => !on.has(e)),
  );
  const outbound = encodeMask(config.delivery.outboundMask, outboundBdat ? ['BDAT'] : [], outboundBdat ? [] : ['BDAT'], true);
  const named = Object.fromEntries(EXTENSIONS.filter((e) => !MASKED.has(e)).map((e) => [e.toLowerCase(), on.has(e)]));
  return { inbound, outbound, named, extensions: resolveExtensions(inbound, named) };
}

/** The EHLO reply a client will get, from the session's own builder. */
export function ehloPreview(listener: ListenerConfig, config: Config, extensions: ReadonlySet<Extension>, tlsAvailable: boolean): string {
  const tls = tlsAvailable ? listener.tls : 'off';
  const { auth, authCleartext } = listener;
  const o = {
    hostname: config.hostname,
    clientIp: '192.0.2.1',
    extensions,
    maxMessageSize: config.limits.maxMessageSize,
    tls,
    auth,
    authCleartext,
  };
  return formatReply(ehloReply(o, tls === 'implicit', 'client.example'), extensions.has('ENHANCEDSTATUSCODES')).trimEnd();
}

async function chosen(c: Context<AdminEnv>): Promise<{ on: Set<string>; bdat: boolean }> {
  const body = await c.req.parseBody({ all: true });
  const ext = body.ext;
  const list = Array.isArray(ext) ? ext : ext === undefined ? [] : [ext];
  return { on: new Set(list.filter((v): v is string => typeof v === 'string')), bdat: body.outbound_bdat === 'on' };
}

const WHEN_APPLIED = 'new sessions use them at once, sessions in progress finish under the old ones.';

/** One extension's checkbox; a masked extension also shows its bit in the inbound mask. */
function extensionSwitch(e: Extension, on: boolean): Html {
  const bit = MASKED.has(e) ? html` <span class="muted">(bit ${INBOUND_BITS[e as keyof typeof INBOUND_BITS]})</span>` : '';
  return html`<label><input type="checkbox" name="ext" value="${e}" ${on ? 'checked' : ''}> ${e}${bit}</label>`;
}

function outboundSwitch(on: boolean): Html {
  const note = html`<span class="muted">(bit 2, all listeners)</span>`;
  return html`<label><input type="checkbox" name="outbound_bdat" ${on ? 'checked' : ''}> Outbound BDAT ${note}</label>`;
}

export function registerListeners(app: AdminApp, request: RequestOf, deps: PageDeps): void {
  const find = (name: string): ListenerConfig | undefined => deps.server.config().listeners.find((l) => l.name === name);
  app.get('/listeners', async (c) => {
    const r = request(c);
    const config = deps.server.config();
    const tls = deps.server.tls !== undefined;
    const forms = config.listeners.map((l) => {
      const bound = deps.server.addresses.find((a) => a.name === l.name);
      const v = choose(l, config, new Set(l.extensions), outboundAllowsBdat(config.delivery.outboundMask));
      return html`<h2>${l.name} <span class="muted mono">${bound === undefined ? `${l.host}:${l.port}` : `${bound.host}:${bound.port}`}</span></h2>
<form method="post" action="/listeners/${l.name}/apply" data-listener="${l.name}" data-preview="/listeners/${l.name}/preview"><input type="hidden" name="_csrf" value="${r.session.csrf}">
<div class="masks"><div class="card"><div class="l">SmtpInboundCommandSupportOptions</div><div class="mask" data-inbound>${v.inbound}</div></div>
<div class="card"><div class="l">SmtpOutboundCommandSupportOptions</div><div class="mask" data-outbound>${v.outbound}</div></div></div>
<div class="switches">${EXTENSIONS.map((e) => extensionSwitch(e, l.extensions.has(e)))}
${outboundSwitch(outboundAllowsBdat(config.delivery.outboundMask))}</div>
<p class="muted">EHLO reply with these settings:</p><pre data-ehlo>${ehloPreview(l, config, v.extensions, tls)}</pre>
<button type="submit" data-confirm="Write these settings to ${deps.configFile} and reload?">Apply and reload</button></form>`;
    });
    const where = html`<span class="mono">${deps.configFile}</span>`;
    const intro = html`<p class="muted">Settings are written to ${where}; ${WHEN_APPLIED}</p>`;
    return r.page('Listeners', html`${intro}${forms}${certificatesSection(deps.server, deps.clock.now())}`, flashOf(c));
  });

  app.post('/listeners/:name/preview', async (c) => {
    const l = find(c.req.param('name'));
    if (l === undefined) return c.json({ error: 'no such listener' }, 404);
    const config = deps.server.config();
    const { on, bdat } = await chosen(c);
    const v = choose(l, config, on, bdat);
    return c.json({ inbound: v.inbound, outbound: v.outbound, ehlo: ehloPreview(l, config, v.extensions, deps.server.tls !== undefined) });
  });

  app.post('/listeners/:name/apply', async (c) => {
    const name = c.req.param('name');
    const l = find(name);
    if (l === undefined) return done(c, '/listeners', `No listener ${name}`, true);
    const { on, bdat } = await chosen(c);
    const v = choose(l, deps.server.config(), on, bdat);
    const keys: Record<string, TomlValue | undefined> = { inbound_command_support: v.inbound };
    // Named switches win over the mask: masked ones are dropped, the others kept only when off.
    for (const e of EXTENSIONS) keys[e.toLowerCase()] = MASKED.has(e) || v.named[e.toLowerCase()] === true ? undefined : false;
    let before: string;
    try {
      before = await readConfigText(deps.configFile);
    } catch (e) {
      // Nothing is written: the file stays as it is until the administrator has looked at it.
      return done(c, '/listeners', `Not applied: ${e instanceof Error ? e.message : String(e)}`, true);
    }
    const text = setTomlKeys(setTomlKeys(before, ['listener', name], keys), ['delivery'], { outbound_command_support: v.outbound });
    let next: Config;
    try {
      next = await deps.check(text);
    } catch (e) {
      return done(c, '/listeners', `Not applied: ${e instanceof Error ? e.message : String(e)}`, true);
    }
    const result = next.listeners.find((x) => x.name === name);
    if (result === undefined || [...v.extensions].sort().join() !== [...result.extensions].sort().join()) {
      return done(
        c,
        '/listeners',
        `Not applied: ${deps.configFile} sets these switches in a way the console cannot edit; change them there`,
        true,
      );
    }
    // An administrator's settings must survive a crash whole (durable-write.ts), private (0600).
    await writeFileDurably(deps.configFile, text);
    const reloaded = await deps.reload();
    const message = reloaded.ok
      ? `Applied to ${name}: inbound ${v.inbound}, outbound ${v.outbound}. ${reloaded.message}`
      : `Written, but the reload failed: ${reloaded.message}`;
    return done(c, '/listeners', message, !reloaded.ok);
  });
}
