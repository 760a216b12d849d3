/**
 * What the main thread and the check worker say to each other (structured clone over the worker's
 * port): a check's request and results, cancellation, and the worker's DNS questions with their
 * answers (the main thread's caching resolver answers them).
 */
import type { MethodResult } from './auth-results.js';

/** The SMTP facts the checks need (RFC 7208 2.3, 2.4). */
export interface CheckFacts {
  readonly clientIp: string;
  readonly helo: string;
  /** MAIL FROM ("" for the null sender). */
  readonly from: string;
}

export interface CheckRequest {
  /** The spooled message (Barge's Received field first). */
  readonly path: string;
  readonly facts: CheckFacts;
  readonly hostname: string;
  /** The server's header section limit: the worker examines no more than this (and Barge's own field). */
  readonly maxHeaderBytes: number;
}

export interface CheckResults {
  /** In the field's order: DKIM, SPF for MAIL FROM, SPF for HELO, DMARC. */
  readonly results: readonly MethodResult[];
  readonly dmarc?: { readonly result: string; readonly policy?: string; readonly domain?: string };
  readonly spf?: { readonly result: string; readonly domain?: string };
}

/** A DNS failure as Node reports it (mailauth reads `code`: ENOTFOUND and ENODATA mean "no such data"). */
export interface DnsFailure {
  readonly code: string;
  readonly message: string;
}

export type ToWorker =
  | { readonly kind: 'check'; readonly job: number; readonly request: CheckRequest }
  | { readonly kind: 'cancel'; readonly job: number }
  | { readonly kind: 'answer'; readonly call: number; readonly value?: unknown; readonly error?: DnsFailure };

export type FromWorker =
  | { readonly kind: 'ready' }
  | { readonly kind: 'lookup'; readonly job: number; readonly call: number; readonly name: string; readonly type: string }
  | { readonly kind: 'result'; readonly job: number; readonly results: CheckResults }
  | { readonly kind: 'failed'; readonly job: number; readonly reason: string }
  | { readonly kind: 'cancelled'; readonly job: number };
