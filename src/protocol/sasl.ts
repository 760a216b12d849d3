/**
 * The server side of the SASL exchanges SMTP AUTH uses (RFC 4954), sans I/O: PLAIN (RFC 4616) and
 * LOGIN (the de facto draft-murchison-sasl-login). Each step takes the client's line and returns a
 * challenge to send as `334 <text>`, the decoded credentials, or the reply that ends the exchange.
 * Credentials are checked by the caller; this module never sees a password store.
 */
import { Reply } from './replies.js';

export const SASL_MECHANISMS = ['PLAIN', 'LOGIN'] as const;
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

export interface Credentials {
  readonly user: string;
  readonly password: string;
}

export type SaslStep = { readonly challenge: string } | { readonly credentials: Credentials } | { readonly refuse: Reply };

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const USERNAME_PROMPT = Buffer.from('Username:').toString('base64');
const PASSWORD_PROMPT = Buffer.from('Password:').toString('base64');

export function isSaslMechanism(name: string): name is SaslMechanism {
  return (SASL_MECHANISMS as readonly string[]).includes(name);
}

/** RFC 4954 4: "=" is an empty initial response; anything else must be strict base64. */
function decode(line: string): Buffer | undefined {
  if (line === '=') return Buffer.alloc(0);
  return BASE64.test(line) ? Buffer.from(line, 'base64') : undefined;
}

export class SaslExchange {
  readonly mechanism: SaslMechanism;
  #user: string | undefined;

  constructor(mechanism: SaslMechanism) {
    this.mechanism = mechanism;
  }

  /** The AUTH command's optional initial response (RFC 4954 4). */
  start(initial: string | undefined): SaslStep {
    if (initial === undefined) return { challenge: this.mechanism === 'PLAIN' ? '' : USERNAME_PROMPT };
    return this.respond(initial);
  }

  /** One client line in answer to a 334 challenge. */
  respond(line: string): SaslStep {
    // RFC 4954 4: "*" cancels the exchange; the server answers 501.
    if (line === '*') return { refuse: Reply.authCancelled() };
    const bytes = decode(line);
    if (bytes === undefined) return { refuse: Reply.authBadEncoding() };
    if (this.mechanism === 'PLAIN') return plain(bytes);
    if (this.#user === undefined) {
      this.#user = bytes.toString('utf8');
      return { challenge: PASSWORD_PROMPT };
    }
    return { credentials: { user: this.#user, password: bytes.toString('utf8') } };
  }
}

/** RFC 4616 2: [authzid] NUL authcid NUL passwd; an authzid other than the authcid is not supported. */
function plain(bytes: Buffer): SaslStep {
  const parts = bytes.toString('utf8').split('\0');
  if (parts.length !== 3) return { refuse: Reply.authBadEncoding() };
  const [authzid = '', user = '', password = ''] = parts;
  if (user === '' || password === '') return { refuse: Reply.authFailed() };
  if (authzid !== '' && authzid.toLowerCase() !== user.toLowerCase()) return { refuse: Reply.authFailed() };
  return { credentials: { user, password } };
}
