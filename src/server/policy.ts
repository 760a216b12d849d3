/**
 * Recipient policy (RFC 5321 3.6): local domains are delivered here, known users only when a list
 * is configured; other domains are relayed only for authenticated sessions and clients in the relay
 * networks (no open relay); everything else gets 554 5.7.1.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { Config } from '../config/types.js';
import { domainOf } from '../protocol/command.js';
import { Reply } from '../protocol/replies.js';
import type { RecipientVerdict } from '../protocol/server-session.js';
import type { Clock } from '../time/clock.js';

/** The addresses and CIDR blocks of a list (relay_networks, a listener's proxy_from) as one BlockList. */
export function relayBlockList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [net = '', bits] = cidr.split('/');
    const family = isIPv6(net) ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(net, family);
    else list.addSubnet(net, Number(bits), family);
  }
  return list;
}

/** Strips the IPv4-mapped IPv6 prefix sockets report for v4 clients on dual-stack listeners. */
export function plainIp(ip: string): string {
  return ip.startsWith('::ffff:') && isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
}

/** Verdicts per relay list (a reload makes a new list) and client address: each message asks again. */
const relayVerdicts = new WeakMap<BlockList, Map<string, boolean>>();
const REMEMBERED_CLIENTS = 4096;

/** The client is in the relay networks (trusted to relay, and not subject to the inbound checks). */
export function inRelayNetworks(relay: BlockList, clientIp: string): boolean {
  let verdicts = relayVerdicts.get(relay);
  if (verdicts === undefined) relayVerdicts.set(relay, (verdicts = new Map()));
  const known = verdicts.get(clientIp);
  if (known !== undefined) return known;
  const ip = plainIp(clientIp);
  // BlockList.check builds a SocketAddress (and isIPv6 runs a long regular expression) per call.
  const verdict = relay.check(ip, isIPv6(ip) ? 'ipv6' : 'ipv4');
  if (verdicts.size >= REMEMBERED_CLIENTS) verdicts.clear();
  verdicts.set(clientIp, verdict);
  return verdict;
}

export function recipientChecker(
  config: Config,
  relay: BlockList,
  clientIp: string,
): (address: string, user: string | undefined) => RecipientVerdict {
  const mayRelay = inRelayNetworks(relay, clientIp);
  const locals = new Set(config.localDomains);
  const known = config.localRecipients === undefined ? undefined : new Set(config.localRecipients);
  return (address, user) => {
    const domain = domainOf(address);
    if (locals.has(domain)) {
      if (known !== undefined && !known.has(address.toLowerCase()) && !/^postmaster@/i.test(address)) return { refuse: Reply.noSuchUser() };
      return { accept: 'local' };
    }
    return mayRelay || user !== undefined ? { accept: 'relay' } : { refuse: Reply.relayDenied() };
  };
}

/**
 * ETRN (RFC 1985) makes the server work on a client's behalf, so it is for clients that may relay
 * or have authenticated; others get 458 4.7.1 (RFC 1985's "unable to queue" reply: temporary, so
 * the client may try again once authenticated). Each node gets at most one run per `etrnIntervalMs`
 * across all sessions, so an ETRN flood cannot keep the runner rescanning the spool.
 */
export class EtrnPolicy {
  /** The relay networks in force (a reload may change them). */
  readonly #relay: () => BlockList;
  readonly #intervalMs: number;
  readonly #clock: Clock;
  /** When each node's last ETRN run started. */
  readonly #started = new Map<string, number>();

  constructor(relay: () => BlockList, intervalMs: number, clock: Clock) {
    this.#relay = relay;
    this.#intervalMs = intervalMs;
    this.#clock = clock;
  }

  forClient(clientIp: string): (node: string, user: string | undefined) => Reply | undefined {
    const mayRelay = inRelayNetworks(this.#relay(), clientIp);
    return (node, user) => {
      if (!mayRelay && user === undefined) return Reply.etrnDenied();
      const t = this.#clock.now().getTime();
      const last = this.#started.get(node);
      if (last !== undefined && t - last < this.#intervalMs) return Reply.etrnTooSoon(node);
      if (this.#started.size >= 1000) for (const [n, at] of this.#started) if (t - at >= this.#intervalMs) this.#started.delete(n);
      this.#started.set(node, t);
      return undefined;
    };
  }
}
