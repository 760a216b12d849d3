/**
 * Delivers one message to the recipients of one domain: routes, then tries each next hop in order
 * until one takes a transaction (RFC 5321 5.1: go on to the next MX on connection failures and
 * 4xx greetings; deliver-hop.ts). Returns an outcome per recipient; never throws for peer or
 * network trouble.
 *
 * The path to a hop may be hostile to BDAT (an ESMTP-inspecting firewall). When BDAT fails in a way
 * that points at the path or the EHLO keywords come back masked, the hop is remembered as "no-bdat"
 * and the message is sent again at once by DATA on a new connection. Nothing was acknowledged by the
 * failed attempt, so nothing is duplicated; with `fallback` off the message is simply retried later.
 * A failed opportunistic TLS handshake is remembered the same way ("no-tls") and the message goes
 * again in clear text; a peer slow on every chunk gets one chunk (decisions.ts).
 *
 * While a hop's BDAT health is unknown, a BDAT transfer starts with a small non-final check chunk
 * answered within `bdatCheckTimeoutMs` (bdat-health.ts), so a black hole costs that wait rather than
 * the end-of-data reply timeout; a passed check is remembered as "bdat-ok". When BDAT is found broken,
 * other BDAT transfers to the hop that have not sent their last chunk are stopped and resent by DATA.
 */
import { route } from './routes.js';
import type { DomainDelivery, OutboundMessage } from '../queue/delivery-port.js';
import type { DeliveryContext } from './delivery-context.js';
import { deliverToHop } from './deliver-hop.js';
import { describeRequirement } from './tls-policy.js';
import { LOOP_STATUS, withoutMyself } from './loop.js';

export type { DomainDelivery };
export type { DeliveryContext, RouteOptions } from './delivery-context.js';

export async function deliverToDomain(domain: string, message: OutboundMessage, ctx: DeliveryContext): Promise<DomainDelivery> {
  const r = await route(domain, ctx.routing, ctx.dns);
  const everyone = (kind: 'temporary' | 'permanent', status: string, detail: string): DomainDelivery => ({
    outcomes: message.rcpts.map((rc) => ({ address: rc.address, kind, status, detail })),
  });
  if (r.kind === 'fail') return everyone(r.permanent ? 'permanent' : 'temporary', r.status, r.detail);
  const hops = ctx.myself === undefined ? r : withoutMyself(domain, r.hops, ctx.myself);
  if ('loop' in hops) return everyone('permanent', LOOP_STATUS, hops.loop);
  await ctx.quirks?.refresh();
  // RFC 8689 5: "TLS-Required: No" waives MTA-STS, unless the REQUIRETLS option asks for the opposite.
  const sts = message.tlsOptional === true && message.requireTls !== true ? undefined : await ctx.tlsPolicy?.(domain, hops.hops);
  const policy = sts === undefined || (sts.kind === 'none' && sts.note === undefined) ? {} : { tlsPolicy: describeRequirement(sts) };
  // RFC 8461 5: MX hosts outside an enforced policy are never tried, and TLS is verified or nothing.
  const base = ctx.transfer(domain);
  // RFC 8689 4.2.1: REQUIRETLS goes only to a host chosen securely (an enforced MTA-STS policy, or a
  // configured route or smart host) over TLS with a verified certificate; otherwise it bounces.
  const fixedHop = ctx.routing.routes.has(domain) || ctx.routing.smartHost !== undefined;
  if (message.requireTls === true && !(sts?.kind === 'mta-sts' && sts.verifiedTls) && !(fixedHop && base.security.tls === 'required')) {
    return {
      ...everyone(
        'permanent',
        '5.7.10',
        `REQUIRETLS: no verified TLS path to ${domain} (no MTA-STS policy in enforce mode, no route with tls = "required")`,
      ),
      ...policy,
    };
  }
  const options =
    sts?.kind === 'mta-sts' && sts.verifiedTls ? { ...base, security: { ...base.security, tls: 'required' as const, ca: sts.ca } } : base;
  const problems: string[] = [];
  for (const hop of sts?.kind === 'mta-sts' ? sts.hops : hops.hops) {
    const delivered = await deliverToHop(domain, hop, message, options, ctx, problems);
    if (delivered !== undefined) return { ...delivered, ...policy };
  }
  const why = problems.length > 0 ? problems.join('; ') : `no MX host matches its MTA-STS policy (${policy.tlsPolicy ?? ''})`;
  return { ...everyone('temporary', '4.4.1', `no mail server of ${domain} took the message: ${why}`), ...policy };
}
