/** The `[listener.NAME]` tables (and `--listen`) as listener configurations: address, verbs, TLS, AUTH, PROXY protocol. */
import { resolveExtensions, type ExtensionSwitches } from '../protocol/extensions.js';
import { inboundAuthPolicy } from './mail-auth.js';
import type { ListenerConfig } from './types.js';
import { DEFAULTS, parseConfigHostPort } from './defaults.js';
import type { ListenerInput } from './schema.js';
import { ConfigError } from './config-error.js';

export function listeners(
  table: Readonly<Record<string, ListenerInput>> | undefined,
  listen: readonly string[] | undefined,
): ListenerConfig[] {
  const entries = Object.entries(table ?? {});
  if (entries.length === 0) entries.push([DEFAULTS.listenerName, {}]);
  const built = entries.map(([name, l], i) => listenerConfig(name, l, l.listen ?? DEFAULTS.listen, i));
  if (listen === undefined || listen.length === 0) return built;
  // The first --listen moves the first listener; more add copies of it (name-2, name-3, ...).
  const [first] = entries;
  if (first === undefined) return built;
  const [name, input] = first;
  const moved = listen.map((address, i) =>
    listenerConfig(i === 0 ? name : `${name}-${i + 1}`, input, address, i === 0 ? 0 : built.length + i - 1, '--listen'),
  );
  return [...moved.slice(0, 1), ...built.slice(1), ...moved.slice(1)];
}

function listenerConfig(name: string, l: ListenerInput, listen: string, index: number, source = `listener.${name}.listen`): ListenerConfig {
  const address = parseConfigHostPort(listen);
  if (address === undefined) throw new ConfigError(`${source}: expected HOST:PORT, got ${JSON.stringify(listen)}`);
  const switches: ExtensionSwitches = {
    pipelining: l.pipelining,
    size: l.size,
    '8bitmime': l['8bitmime'],
    binarymime: l.binarymime,
    chunking: l.chunking,
    dsn: l.dsn,
    enhancedstatuscodes: l.enhancedstatuscodes,
    smtputf8: l.smtputf8,
    etrn: l.etrn,
    help: l.help,
  };
  const inboundMask = l.inbound_command_support ?? DEFAULTS.inboundMask;
  return {
    name,
    host: address.host,
    port: address.port,
    inboundMask,
    extensions: resolveExtensions(inboundMask, switches),
    vrfy: l.vrfy ?? 'cannot',
    expn: l.expn ?? false,
    logFolder: l.log_folder ?? `SMTPSVC${index + 1}`,
    ...listenerSecurity(l),
    mailAuth: inboundAuthPolicy(l),
    proxyFrom: proxyFrom(name, l),
  };
}

function listenerSecurity(l: ListenerInput): Pick<ListenerConfig, 'tls' | 'auth' | 'authCleartext' | 'senderLogin'> {
  const tls = l.tls ?? (l.require_tls === true ? 'required' : 'optional');
  if (l.require_tls === true && tls !== 'required' && tls !== 'implicit')
    throw new ConfigError(`require_tls = true conflicts with tls = "${tls}"`);
  const auth = l.auth ?? 'optional';
  return { tls, auth, authCleartext: l.auth_cleartext ?? false, senderLogin: l.sender_login ?? auth === 'required' };
}

/** Both keys or neither: a PROXY listener trusting no one, or a trust list that does nothing, is a mistake. */
function proxyFrom(name: string, l: ListenerInput): readonly string[] | undefined {
  if (l.proxy_protocol === true && l.proxy_from === undefined)
    throw new ConfigError(`listener.${name}: proxy_protocol = true needs proxy_from, the load balancers' networks`);
  if (l.proxy_protocol !== true && l.proxy_from !== undefined)
    throw new ConfigError(`listener.${name}: proxy_from needs proxy_protocol = true`);
  return l.proxy_protocol === true ? l.proxy_from : undefined;
}
