/**
 * Mail that would loop back to Barge itself: a next hop (MX, A/AAAA, route or smart host) whose
 * address and port Barge listens on, or a peer that greets or answers EHLO with Barge's own name.
 * Such recipients fail permanently with Postfix's wording, "5.4.6 mail for DOMAIN loops back to
 * myself", instead of being delivered to Barge again and again.
 *
 * RFC 5321 5.1: when Barge finds itself in a domain's MX list it discards that record and every
 * record of the same or a less preferred (higher) value; if none is left, the mail loops.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { NextHop } from './routes.js';
import type { PeerCapabilities, RecipientOutcome } from '../protocol/client-types.js';

/** A bound listener: its address as bound ("0.0.0.0" and "::" mean every local address) and port. */
export interface Listening {
  readonly address: string;
  readonly port: number;
}

export interface Myself {
  /** The name Barge gives in its greeting and EHLO reply. */
  readonly hostname: string;
  /** The listeners as bound now. */
  listening(): readonly Listening[];
  /** The addresses of the machine's interfaces (a wildcard listener answers on each). */
  localAddresses(): readonly string[];
}

export const LOOP_STATUS = '5.4.6';

export function loopDetail(domain: string): string {
  return `mail for ${domain} loops back to myself`;
}

/** Every address of the machine's network interfaces. */
export function machineAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
}

/** "::ffff:127.0.0.1" is 127.0.0.1; IPv6 is compared in lower case, zone dropped. */
function plain(address: string): string {
  const a = address.toLowerCase().replace(/%.*$/, '');
  return a.startsWith('::ffff:') && isIPv4(a.slice(7)) ? a.slice(7) : a;
}

function localIPv4(address: string, locals: readonly string[]): boolean {
  // The whole of 127.0.0.0/8 is this machine (RFC 1122 3.2.1.3), and so is 0.0.0.0 as a destination.
  return isIPv4(address) && (address.startsWith('127.') || address === '0.0.0.0' || locals.includes(address));
}

function localIPv6(address: string, locals: readonly string[]): boolean {
  return isIPv6(address) && (address === '::1' || address === '::' || locals.includes(address));
}

/** True when connecting to `host:port` would reach one of Barge's own listeners. */
export function isMyself(me: Myself, host: string, port: number): boolean {
  const address = plain(host);
  const listening = me.listening().filter((l) => l.port === port);
  if (listening.length === 0) return false;
  const locals = (): string[] => me.localAddresses().map(plain);
  return listening.some((l) => {
    const bound = plain(l.address);
    if (bound === '0.0.0.0') return localIPv4(address, locals());
    // A "::" listener takes IPv4 too unless it was bound IPv6-only (Node's default is dual stack).
    if (bound === '::') return localIPv4(address, locals()) || localIPv6(address, locals());
    return bound === address;
  });
}

/**
 * The hops that do not lead back to Barge (RFC 5321 5.1), or the loop. Hops without a preference
 * (a route, the smart host, A/AAAA records of a domain without MX) count as one preference.
 */
export function withoutMyself(
  domain: string,
  hops: readonly NextHop[],
  me: Myself,
): { readonly hops: readonly NextHop[] } | { readonly loop: string } {
  const mine = (h: NextHop): boolean =>
    isMyself(me, h.host, h.port) || (h.preference !== undefined && h.name.toLowerCase() === me.hostname.toLowerCase());
  const own = hops.filter(mine).map((h) => h.preference ?? 0);
  if (own.length === 0) return { hops };
  const best = Math.min(...own);
  const left = hops.filter((h) => (h.preference ?? 0) < best);
  return left.length === 0 ? { loop: loopDetail(domain) } : { hops: left };
}

/** After connecting: the peer is Barge itself by its address, or it gives Barge's own name. */
export function peerIsMyself(me: Myself, remoteAddress: string, port: number, peerNames: readonly string[]): boolean {
  const own = me.hostname.toLowerCase();
  return isMyself(me, remoteAddress, port) || peerNames.some((n) => n.toLowerCase() === own);
}

/** The first word of a greeting or EHLO/HELO reply: the name the peer gives itself (RFC 5321 4.2). */
export function firstWord(text: string): string {
  return text.trim().split(/\s+/)[0] ?? '';
}

/** A session just acquired for a hop: the address reached and what the peer said. */
interface ConnectedSession {
  readonly socket: { readonly remoteAddress: string };
  readonly caps: PeerCapabilities;
}

/** Checks a session just acquired for a hop; the recipients' outcomes when it is Barge itself. */
export function loopOutcomes(
  me: Myself | undefined,
  domain: string,
  session: ConnectedSession,
  port: number,
  rcpts: readonly { readonly address: string }[],
): RecipientOutcome[] | undefined {
  const names = [firstWord(session.caps.greeting), session.caps.name ?? ''];
  if (me === undefined || !peerIsMyself(me, session.socket.remoteAddress, port, names)) return undefined;
  return rcpts.map((r) => ({ address: r.address, kind: 'permanent', status: LOOP_STATUS, detail: loopDetail(domain) }));
}
