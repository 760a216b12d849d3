/** The parts of mailauth 4.x (CommonJS, no typings of its own) that Barge uses. */
declare module 'mailauth' {
  export type Resolver = (name: string, type: string) => Promise<unknown>;
  export interface AuthOptions {
    sender?: string;
    ip?: string;
    helo?: string;
    mta?: string;
    resolver?: Resolver;
    disableArc?: boolean;
    disableBimi?: boolean;
    maxResolveCount?: number;
    maxVoidCount?: number;
  }
  export interface Status {
    result: string;
    comment?: string;
  }
  export interface DkimResult {
    signingDomain?: string;
    selector?: string;
    algo?: string;
    status: Status & { aligned?: string | false };
    info?: string;
  }
  export interface AuthResult {
    dkim: { headerFrom?: string[]; results: DkimResult[] };
    spf: { status: Status; domain?: string; info?: string } | false;
    dmarc: { status: Status; domain?: string; policy?: string; p?: string; sp?: string; alignment?: unknown; info?: string } | false;
    arc: unknown;
    headers: string;
  }
  export function authenticate(message: Buffer | string | import('node:stream').Readable, options?: AuthOptions): Promise<AuthResult>;
}

declare module 'mailauth/lib/dkim/verify.js' {
  import type { DkimResult, Resolver } from 'mailauth';
  export function dkimVerify(message: Buffer | string, options?: { resolver?: Resolver }): Promise<{ results: DkimResult[] }>;
}

declare module 'mailauth/lib/spf/index.js' {
  import type { Resolver, Status } from 'mailauth';
  export function spf(options: {
    sender: string;
    ip: string;
    helo: string;
    mta: string;
    resolver?: Resolver;
  }): Promise<{ status: Status; domain?: string; info?: string }>;
}

declare module 'mailauth/lib/mta-sts.js' {
  export function resolvePolicy(
    domain: string,
    options: { resolver: (name: string, type: string) => Promise<unknown> },
  ): Promise<string | false>;
  export function parsePolicy(text: string): { mode: 'enforce' | 'testing' | 'none'; mx?: string[]; maxAge: number; version: string };
}
