/**
 * The `barge` command line: dispatches to serve, queue and options. Returns the exit code;
 * nothing here calls process.exit, so every command is testable in-process.
 */
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { checkConfig, ConfigError, loadConfig, type ServeFlags } from '../config/load.js';
import type { Config } from '../config/types.js';
import { consoleConfigPath, defaultConfigPath } from '../config/edit.js';
import { pidPath, runningPid } from './reload.js';
import { runServer } from './run.js';
import { actAsDataDirOwner } from './privileges.js';
import { runOptions } from '../cli/options.js';
import { runQueue } from '../cli/queue.js';
import type { SendOptions } from '../cli/send.js';
import { runRoutes } from '../cli/routes.js';
import { ListenError } from '../server/listen.js';
import { loadTlsMaterial } from '../server/tls.js';
import { loadDkimKeys } from '../mailauth/sign-queued.js';
import { DEFAULTS } from '../config/defaults.js';

const USAGE = `usage: barge <command> [options]

commands:
  serve [--config FILE] [--listen HOST:PORT]... [--data-dir DIR] [--hostname NAME]
        [--local-domain DOMAIN]... [--max-message-size SIZE]
        [--route DOMAIN=HOST:PORT]... [--smart-host HOST:PORT] [--queue-only]
        [--tls-cert FILE --tls-key FILE] [--listen-tls HOST:PORT] [--listen-submission HOST:PORT]
        [--relay-network CIDR]... [--admin-listen HOST:PORT|off] [--user USER [--group GROUP]]
                      receive and deliver mail (default: 127.0.0.1:2525, data in ./var),
                      with the web console and /metrics on 127.0.0.1:8025; started as root with
                      --user (or user in the file), binds its ports and then runs as that user.
                      Without --config: /etc/barge/barge.toml if it exists and no --data-dir is given
  reload [--config FILE] [--data-dir DIR]
                      check the configuration, then have the running server re-read it (SIGHUP)
  queue list [--limit N] [--after ID]|show ID|retry ID|flush|hold ID|release ID|bounce ID|delete ID [--config FILE] [--data-dir DIR]
                      read and adjust the queue
  send [--from ADDR] [--to ADDR]... [-t] [--server HOST:PORT | --data-dir DIR] < message
                      submit a message to the running server (or straight into the spool)
  routes [list] | routes clear [HOST[:PORT]] [--config FILE] [--data-dir DIR]
                      show routes and the path quirks Barge learnt (no BDAT, no TLS); forget them
  probe HOST[:PORT] [--json] [--from ADDR] [--rcpt ADDR] [--helo NAME] [--timeout S] [--no-tls]
        [--data-dir DIR] [--config FILE]
                      diagnose the path to a peer: banner, keywords, STARTTLS, BDAT and DATA;
                      with --data-dir, a clean verdict also forgets the quirks learnt for HOST
  middlebox --listen HOST:PORT --upstream HOST:PORT --mode MODE [--tarpit S]
                      a TCP proxy that breaks SMTP like an ESMTP-inspecting firewall (for tests)
  user add|passwd|del|list [NAME] [--admin] [--password-stdin] [--address ADDR]... [--config FILE] [--data-dir DIR]
                      manage the users who may AUTH (scrypt hashes in DATA_DIR/users) and, with --admin, log in to the console
  dkim keygen DOMAIN --selector S [--algorithm rsa|ed25519] [--config FILE] [--data-dir DIR]
  dkim check DOMAIN --selector S [--config FILE] [--data-dir DIR]
                      make a DKIM key (under DATA_DIR/dkim) and print its DNS record; check the published one
  options decode VALUE [--outbound]
  options encode [--base N] [--with A,B] [--without A,B] [--outbound]
                      IIS-compatible command support masks`;

const out = (line: string): void => void process.stdout.write(`${line}\n`);
const err = (line: string): void => void process.stderr.write(`${line}\n`);

/** Options shared by commands that need the configuration. */
const CONFIG_OPTIONS = {
  config: { type: 'string' },
  listen: { type: 'string', multiple: true },
  'data-dir': { type: 'string' },
  hostname: { type: 'string' },
  'local-domain': { type: 'string', multiple: true },
  'max-message-size': { type: 'string' },
  route: { type: 'string', multiple: true },
  'smart-host': { type: 'string' },
  'queue-only': { type: 'boolean' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'listen-tls': { type: 'string' },
  'listen-submission': { type: 'string' },
  'relay-network': { type: 'string', multiple: true },
  'admin-listen': { type: 'string' },
  user: { type: 'string' },
  group: { type: 'string' },
  limit: { type: 'string' },
  after: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve':
      case 'reload':
      case 'routes':
      case 'queue': {
        const { values, positionals } = parseArgs({ args: rest, options: CONFIG_OPTIONS, allowPositionals: command !== 'serve' });
        if (values.help === true) return usage(0);
        const flags: ServeFlags = {
          ...(values.listen === undefined ? {} : { listen: values.listen }),
          ...(values['data-dir'] === undefined ? {} : { dataDir: values['data-dir'] }),
          ...(values.hostname === undefined ? {} : { hostname: values.hostname }),
          ...(values['local-domain'] === undefined ? {} : { localDomain: values['local-domain'] }),
          ...(values['max-message-size'] === undefined ? {} : { maxMessageSize: values['max-message-size'] }),
          ...(values.route === undefined ? {} : { route: values.route }),
          ...(values['smart-host'] === undefined ? {} : { smartHost: values['smart-host'] }),
          ...(values['queue-only'] === undefined ? {} : { queueOnly: values['queue-only'] }),
          ...(values['tls-cert'] === undefined ? {} : { tlsCert: values['tls-cert'] }),
          ...(values['tls-key'] === undefined ? {} : { tlsKey: values['tls-key'] }),
          ...(values['listen-tls'] === undefined ? {} : { listenTls: values['listen-tls'] }),
          ...(values['listen-submission'] === undefined ? {} : { listenSubmission: values['listen-submission'] }),
          ...(values['relay-network'] === undefined ? {} : { relayNetwork: values['relay-network'] }),
          ...(values['admin-listen'] === undefined ? {} : { adminListen: values['admin-listen'] }),
          ...(values.user === undefined ? {} : { user: values.user }),
          ...(values.group === undefined ? {} : { group: values.group }),
        };
        // Without --config: the system's file, or the settings the console wrote (if any), is the config file.
        const configFile = defaultConfigPath(values.config, flags.dataDir) ?? consoleConfigPath(resolve(flags.dataDir ?? DEFAULTS.dataDir));
        const load = (): Promise<Config> => loadConfig(defaultConfigPath(values.config, flags.dataDir), flags, hostname());
        const config = await load();
        if (command === 'queue' || command === 'routes') await actAsDataDirOwner(config.dataDir);
        if (command === 'serve')
          return await runServer(config, err, {
            load,
            configFile,
            check: (text) => checkConfig({ text, file: configFile }, flags, hostname()),
          });
        if (command === 'reload') return await signalReload(config, out, err);
        const paging = { limit: values.limit, after: values.after };
        return command === 'queue' ? await runQueue(config, positionals, out, err, paging) : await runRoutes(config, positionals, out, err);
      }
      case 'send': {
        const { values } = parseArgs({
          args: rest,
          options: {
            ...CONFIG_OPTIONS,
            from: { type: 'string' },
            to: { type: 'string', multiple: true },
            t: { type: 'boolean', short: 't' },
            server: { type: 'string' },
          },
        });
        if (values.help === true) return usage(0);
        const config = await commandConfig(values);
        if (values['data-dir'] !== undefined) await actAsDataDirOwner(config.dataDir);
        const options: SendOptions = {
          from: values.from ?? `${process.env.USER ?? 'root'}@${config.hostname}`,
          to: values.to ?? [],
          fromHeaders: values.t === true,
          direct: values['data-dir'] !== undefined,
          ...(values.server === undefined ? {} : { server: values.server }),
        };
        const { runSend } = await import('../cli/send.js');
        return await runSend(config, options, process.stdin, out, err);
      }
      case 'user': {
        const { values, positionals } = parseArgs({
          args: rest,
          options: {
            config: { type: 'string' },
            'data-dir': { type: 'string' },
            'password-stdin': { type: 'boolean' },
            admin: { type: 'boolean' },
            address: { type: 'string', multiple: true },
          },
          allowPositionals: true,
        });
        const config = await commandConfig(values);
        await actAsDataDirOwner(config.dataDir);
        const args = [
          ...positionals,
          ...(values['password-stdin'] === true ? ['--password-stdin'] : []),
          ...(values.admin === true ? ['--admin'] : []),
          ...(values.address ?? []).flatMap((a) => ['--address', a]),
        ];
        const { runUser } = await import('../cli/user.js');
        return await runUser(args, config.dataDir, process.stdin, out, err);
      }
      case 'dkim': {
        const { values, positionals } = parseArgs({
          args: rest,
          options: {
            config: { type: 'string' },
            'data-dir': { type: 'string' },
            selector: { type: 'string' },
            algorithm: { type: 'string' },
          },
          allowPositionals: true,
        });
        const config = await commandConfig(values);
        await actAsDataDirOwner(config.dataDir);
        const [action, domain] = positionals;
        const { runDkim } = await import('../cli/dkim.js');
        return await runDkim(config, { action, domain, selector: values.selector, algorithm: values.algorithm }, out, err);
      }
      // Commands other than serve and queue are loaded when used, so a running server never holds their code.
      case 'probe':
        return await (await import('../cli/probe.js')).runProbe(rest, out, err);
      case 'middlebox':
        return await (await import('../cli/middlebox.js')).runMiddlebox(rest, out, err);
      case 'options':
        return runOptions(rest, out, err);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        return usage(command === undefined ? 2 : 0);
      default:
        err(`barge: unknown command ${command}`);
        return usage(2);
    }
  } catch (e) {
    if (e instanceof ConfigError) {
      err(`barge: configuration error: ${e.message}`);
      return 2;
    }
    if (e instanceof ListenError) {
      err(`barge: ${e.message}`);
      return 1;
    }
    if (e instanceof TypeError && 'code' in e && String(e.code).startsWith('ERR_PARSE_ARGS')) {
      err(`barge: ${e.message}`);
      return 2;
    }
    throw e;
  }
}

/**
 * `barge reload`: the configuration was loaded (so it is valid) and the files it names are checked
 * as the server will check them (a ConfigError, exit 2, names a bad one); then the running server is
 * told to re-read it. A self-signed pair is the server's to make, so only a configured one is read.
 */
async function signalReload(config: Config, say: (line: string) => void, err: (line: string) => void): Promise<number> {
  if (config.tls !== undefined) await loadTlsMaterial(config);
  await loadDkimKeys(config);
  const pid = await runningPid(config.dataDir);
  if (pid === undefined) {
    err(`barge: no running server for ${config.dataDir} (no live pid in ${pidPath(config.dataDir)})`);
    return 1;
  }
  process.kill(pid, 'SIGHUP');
  say(`configuration is valid; asked the server (pid ${pid}) to reload it`);
  return 0;
}

/** The configuration a command other than serve reads: `--config`, else the system's file, under `--data-dir` if given. */
function commandConfig(values: { readonly config?: string | undefined; readonly 'data-dir'?: string | undefined }): Promise<Config> {
  const dataDir = values['data-dir'];
  return loadConfig(defaultConfigPath(values.config, dataDir), dataDir === undefined ? {} : { dataDir }, hostname());
}

function usage(code: number): number {
  (code === 0 ? out : err)(USAGE);
  return code;
}
