/**
 * The envelope of one mail transaction and the validation of MAIL/RCPT parameters against the
 * extensions a listener offers: SIZE (RFC 1870), BODY (RFC 6152, RFC 3030), SMTPUTF8 (RFC 6531),
 * RET/ENVID/NOTIFY/ORCPT (RFC 3461). Pure functions returning values or replies.
 */
import type { Extension } from './extensions.js';
import { decodeXtext, type PathWithParams } from './command.js';
import { Reply } from './replies.js';

export type BodyType = '7BIT' | '8BITMIME' | 'BINARYMIME';
export type NotifyCondition = 'SUCCESS' | 'FAILURE' | 'DELAY';

export interface Recipient {
  readonly address: string;
  /** Local (Maildir) or relayed. */
  readonly local: boolean;
  /** RFC 3461 NOTIFY; undefined = not given (default FAILURE,DELAY behaviour); [] = NEVER. */
  readonly notify?: readonly NotifyCondition[];
  /** RFC 3461 ORCPT, decoded: address type and original recipient. */
  readonly orcpt?: { readonly type: string; readonly address: string };
}

export interface Transaction {
  /** Reverse-path; "" for the null sender `<>`. */
  readonly from: string;
  readonly body: BodyType;
  readonly smtputf8: boolean;
  readonly declaredSize?: number;
  readonly ret?: 'FULL' | 'HDRS';
  readonly envid?: string;
  /** RFC 8689 REQUIRETLS: relay only over TLS with a verified certificate, passing the option on. */
  readonly requireTls?: boolean;
  readonly rcpts: readonly Recipient[];
}

type Result<T> = { readonly ok: T } | { readonly reply: Reply };

export function validateMail(
  path: PathWithParams,
  extensions: ReadonlySet<Extension>,
  esmtp: boolean,
  maxMessageSize: number,
  tls = false,
): Result<Omit<Transaction, 'rcpts'>> {
  let requireTls = false;
  let body: BodyType = '7BIT';
  let smtputf8 = false;
  let declaredSize: number | undefined;
  let ret: 'FULL' | 'HDRS' | undefined;
  let envid: string | undefined;
  for (const [key, value] of path.params) {
    if (!esmtp) return { reply: Reply.badParameter(`${key} (send EHLO to use ESMTP parameters)`) };
    switch (key) {
      case 'SIZE':
        if (!extensions.has('SIZE')) return { reply: Reply.badParameter(key) };
        if (value === undefined || !/^\d{1,20}$/.test(value)) return { reply: Reply.badArgument('SIZE=<octets>') };
        declaredSize = Number(value);
        if (declaredSize > maxMessageSize) return { reply: Reply.sizeDeclaredTooBig(maxMessageSize) };
        break;
      case 'BODY': {
        const type = value?.toUpperCase();
        if (type === '7BIT') body = '7BIT';
        else if (type === '8BITMIME' && extensions.has('8BITMIME')) body = '8BITMIME';
        else if (type === 'BINARYMIME' && extensions.has('BINARYMIME')) body = 'BINARYMIME';
        else return { reply: Reply.badParameter(`BODY=${value ?? ''}`) };
        break;
      }
      case 'SMTPUTF8':
        if (!extensions.has('SMTPUTF8') || value !== undefined) return { reply: Reply.badParameter(key) };
        smtputf8 = true;
        break;
      case 'RET': {
        const v = value?.toUpperCase();
        if (!extensions.has('DSN')) return { reply: Reply.badParameter(key) };
        if (v !== 'FULL' && v !== 'HDRS') return { reply: Reply.badArgument('RET=FULL|HDRS') };
        ret = v;
        break;
      }
      case 'ENVID': {
        if (!extensions.has('DSN')) return { reply: Reply.badParameter(key) };
        const decoded = value === undefined ? undefined : decodeXtext(value);
        if (decoded === undefined || decoded.length > 100) return { reply: Reply.badArgument('ENVID=<xtext, at most 100 characters>') };
        envid = decoded;
        break;
      }
      case 'REQUIRETLS':
        // RFC 8689 4.1: only offered, and only valid, inside TLS.
        if (value !== undefined) return { reply: Reply.badParameter(key) };
        if (!tls) return { reply: Reply.requireTlsNeedsTls() };
        requireTls = true;
        break;
      case 'AUTH':
        // RFC 4954 5: the submitter's identity as vouched by a previous hop; accepted and not relied on.
        if (value === undefined) return { reply: Reply.badArgument('AUTH=<xtext>') };
        break;
      default:
        return { reply: Reply.badParameter(key) };
    }
  }
  if (path.utf8 && !smtputf8) return { reply: Reply.utf8Required() };
  return {
    ok: {
      from: path.address,
      body,
      smtputf8,
      ...(declaredSize !== undefined ? { declaredSize } : {}),
      ...(ret !== undefined ? { ret } : {}),
      ...(envid !== undefined ? { envid } : {}),
      ...(requireTls ? { requireTls } : {}),
    },
  };
}

export function validateRcptParams(
  path: PathWithParams,
  extensions: ReadonlySet<Extension>,
  smtputf8: boolean,
): Result<Pick<Recipient, 'notify' | 'orcpt'>> {
  let notify: NotifyCondition[] | undefined;
  let orcpt: { type: string; address: string } | undefined;
  for (const [key, value] of path.params) {
    if (!extensions.has('DSN') || (key !== 'NOTIFY' && key !== 'ORCPT')) return { reply: Reply.badParameter(key) };
    if (key === 'NOTIFY') {
      const words = (value ?? '').toUpperCase().split(',');
      if (words.length === 1 && words[0] === 'NEVER') notify = [];
      else if (words.every((w) => w === 'SUCCESS' || w === 'FAILURE' || w === 'DELAY') && new Set(words).size === words.length) {
        notify = words as NotifyCondition[];
      } else return { reply: Reply.badArgument('NOTIFY=NEVER or a list of SUCCESS,FAILURE,DELAY') };
    } else {
      const semi = (value ?? '').indexOf(';');
      const decoded = semi > 0 && value !== undefined ? decodeXtext(value.slice(semi + 1)) : undefined;
      if (value === undefined || decoded === undefined || decoded === '') return { reply: Reply.badArgument('ORCPT=<addr-type>;<xtext>') };
      orcpt = { type: value.slice(0, semi).toLowerCase(), address: decoded };
    }
  }
  if (path.utf8 && !smtputf8) return { reply: Reply.utf8Required() };
  return { ok: { ...(notify !== undefined ? { notify } : {}), ...(orcpt !== undefined ? { orcpt } : {}) } };
}
