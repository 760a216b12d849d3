/**
 * The protocol-log record of a reply, derived from what the session says the reply answers: the
 * W3C fields cs-method, cs-uri-query and sc-status as the classic Windows SMTP service wrote them.
 */
import type { Answered } from '../protocol/session-types.js';

export interface CommandRecord {
  readonly method: string;
  readonly query: string;
  readonly status: number;
}

/** The record for a reply with code `code` that answers `answered`. */
export function commandRecord(answered: Answered, code: number): CommandRecord {
  switch (answered.kind) {
    case 'command':
      // The classic service logged QUIT with status 240; log readers expect it.
      return { method: answered.verb, query: answered.args, status: answered.verb === 'QUIT' ? 240 : code };
    case 'too-long':
      return { method: answered.verb, query: '', status: code };
    case 'auth':
      return { method: 'AUTH', query: answered.mechanism, status: code };
    case 'message':
      // DATA's line shows the queue id; the last BDAT's shows its own arguments.
      return { method: answered.method, query: answered.method === 'DATA' ? (answered.queued ?? '') : answered.args, status: code };
    default: {
      const never: never = answered;
      return never;
    }
  }
}
