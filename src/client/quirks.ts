/**
 * What Barge has learnt about the path to a destination (a next hop's host and port): "no-bdat"
 * after BDAT failed there in a way that points at the path rather than the message, "no-tls" after
 * an opportunistic TLS handshake failed, "big-chunks" after a peer delayed each non-final chunk.
 * Each entry has a reason and an expiry (24 h by default), so a repaired path is used again.
 *
 * The entries live in `<dataDir>/quirks.json` so that `barge routes` can show and clear them; the
 * server re-reads the file when it changed on disk (an admin's clear takes effect at once).
 */
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BdatHealth } from './bdat-health.js';

/** "bdat-ok" is no problem but what a passed BDAT check established: later messages skip the check. */
export type QuirkKind = 'no-bdat' | 'no-tls' | 'big-chunks' | 'bdat-ok';
const KINDS: readonly string[] = ['no-bdat', 'no-tls', 'big-chunks', 'bdat-ok'] satisfies QuirkKind[];

export interface Quirk {
  /** "host:port" as connected to. */
  readonly destination: string;
  readonly kind: QuirkKind;
  readonly reason: string;
  /** ISO 8601 times. */
  readonly since: string;
  readonly until: string;
  /** For "bdat-ok": the sessions BDAT was seen to work on. */
  readonly health?: BdatHealth;
}

export function quirksPath(dataDir: string): string {
  return join(dataDir, 'quirks.json');
}

export class QuirkStore {
  readonly #file: string;
  readonly #now: () => Date;
  #entries: Quirk[] = [];
  #mtimeMs = -1;
  #writing: Promise<void> = Promise.resolve();

  private constructor(file: string, now: () => Date) {
    this.#file = file;
    this.#now = now;
  }

  static async open(file: string, now: () => Date = () => new Date()): Promise<QuirkStore> {
    const store = new QuirkStore(file, now);
    await store.refresh();
    return store;
  }

  /** Reads the file again if it changed since the last read or write. */
  async refresh(): Promise<void> {
    // A write under way would look like a change by someone else, and its old file would be read.
    await this.#writing;
    let mtimeMs: number;
    try {
      mtimeMs = (await stat(this.#file)).mtimeMs;
    } catch {
      this.#entries = [];
      this.#mtimeMs = -1;
      return;
    }
    if (mtimeMs === this.#mtimeMs) return;
    try {
      const parsed: unknown = JSON.parse(await readFile(this.#file, 'utf8'));
      this.#entries = Array.isArray(parsed) ? parsed.filter(isQuirk) : [];
      this.#mtimeMs = mtimeMs;
    } catch {
      // A torn or hand-broken file forgets the quirks: Barge then rediscovers them, losing nothing.
      this.#entries = [];
    }
  }

  /** The live quirk of this kind for the destination, if any. */
  get(destination: string, kind: QuirkKind): Quirk | undefined {
    const now = this.#now().getTime();
    return this.#entries.find((q) => q.destination === destination && q.kind === kind && Date.parse(q.until) > now);
  }

  list(): Quirk[] {
    const now = this.#now().getTime();
    return this.#entries.filter((q) => Date.parse(q.until) > now);
  }

  async remember(destination: string, kind: QuirkKind, reason: string, ttlMs: number, health?: BdatHealth): Promise<Quirk> {
    const now = this.#now();
    const quirk: Quirk = { destination, kind, reason, since: now.toISOString(), until: new Date(now.getTime() + ttlMs).toISOString(), ...(health === undefined ? {} : { health }) };
    this.#entries = [...this.list().filter((q) => !(q.destination === destination && q.kind === kind)), quirk];
    await this.#save();
    return quirk;
  }

  /** Forgets one kind of quirk for a destination ("bdat-ok" once BDAT is found broken there). */
  async forget(destination: string, kind: QuirkKind): Promise<void> {
    const before = this.#entries.length;
    this.#entries = this.#entries.filter((q) => !(q.destination === destination && q.kind === kind));
    if (this.#entries.length !== before) await this.#save();
  }

  /** Forgets quirks for one destination ("host:port", or "host" for every port), or all; returns how many. */
  async clear(destination?: string): Promise<number> {
    const matches = (q: Quirk): boolean => destination === undefined || q.destination === destination || q.destination.startsWith(`${destination}:`);
    const before = this.#entries.length;
    this.#entries = this.#entries.filter((q) => !matches(q));
    const removed = before - this.#entries.length;
    if (removed > 0) await this.#save();
    return removed;
  }

  /** Writes via a temporary file and rename, one write at a time, so readers never see half a file. */
  #save(): Promise<void> {
    const entries = this.list();
    const next = this.#writing.then(async () => {
      const tmp = `${this.#file}.tmp`;
      await writeFile(tmp, `${JSON.stringify(entries, null, 2)}\n`);
      await rename(tmp, this.#file);
      this.#mtimeMs = (await stat(this.#file)).mtimeMs;
    });
    this.#writing = next.catch(() => undefined);
    return next;
  }
}

function isQuirk(v: unknown): v is Quirk {
  if (typeof v !== 'object' || v === null) return false;
  const q = v as Record<string, unknown>;
  return typeof q.destination === 'string' && typeof q.kind === 'string' && KINDS.includes(q.kind) && typeof q.reason === 'string' && typeof q.since === 'string' && typeof q.until === 'string' && (q.health === undefined || q.health === 'new-session' || q.health === 'reused-session');
}
