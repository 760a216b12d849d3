/**
 * What Barge has learnt about the path to a destination (a next hop's address and port): "no-bdat"
 * after BDAT failed there in a way that points at the path rather than the message, "no-tls" after
 * an opportunistic TLS handshake failed, "big-chunks" after a peer delayed each non-final chunk.
 * Each entry has a reason and an expiry (24 h by default), so a repaired path is used again.
 *
 * The key: a quirk belongs to the path, so to the address and port connected to (one MX name may
 * have addresses behind different firewalls), and it records the host name the address was reached
 * by (the MX or route name). Clearing by a name clears every address learnt under it, so a clean
 * `barge probe mx.partner.example` forgets what delivery learnt at that MX's addresses; clearing by
 * an address clears that address only.
 *
 * The entries live in `<dataDir>/quirks.json` so that `barge routes` can show and clear them; the
 * server re-reads the file when it changed on disk (an admin's clear takes effect at once).
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { formatHostPort, parseHostPort } from '../protocol/host-port.js';
import { writeFileDurably } from '../fs/durable-write.js';
import type { BdatHealth } from './bdat-health.js';
import { realClock, type Clock } from '../time/clock.js';

/** "bdat-ok" is no problem but what a passed BDAT check established: later messages skip the check. */
export type QuirkKind = 'no-bdat' | 'no-tls' | 'big-chunks' | 'bdat-ok';
const KINDS: readonly string[] = ['no-bdat', 'no-tls', 'big-chunks', 'bdat-ok'] satisfies QuirkKind[];

/** Where a quirk applies: the address and port connected to, and the name it was reached by. */
export interface QuirkDestination {
  readonly host: string;
  readonly port: number;
  /** MX or route host name ("mx.partner.example"); the address itself when there is none. */
  readonly name: string;
}

export interface Quirk {
  /** "address:port" as connected to ("[2001:db8::25]:25" for IPv6). */
  readonly destination: string;
  /** The host name the address was reached by; absent in files written before names were kept. */
  readonly name?: string;
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
  readonly #clock: Clock;
  #entries: Quirk[] = [];
  #mtimeMs = -1;
  #writing: Promise<void> = Promise.resolve();
  /** Local changes made, so a re-read under way never overwrites a newer one. */
  #changes = 0;

  private constructor(file: string, clock: Clock) {
    this.#file = file;
    this.#clock = clock;
  }

  static async open(file: string, clock: Clock = realClock): Promise<QuirkStore> {
    const store = new QuirkStore(file, clock);
    await store.refresh();
    return store;
  }

  /** Reads the file again if it changed since the last read or write. */
  async refresh(): Promise<void> {
    // A write under way would look like a change by someone else, and its old file would be read;
    // something learnt while reading is newer than what is read, so such a read is dropped.
    let changes: number;
    do {
      changes = this.#changes;
      await this.#writing;
    } while (changes !== this.#changes);
    let mtimeMs: number;
    try {
      mtimeMs = (await stat(this.#file)).mtimeMs;
    } catch {
      if (changes !== this.#changes) return;
      this.#entries = [];
      this.#mtimeMs = -1;
      return;
    }
    if (mtimeMs === this.#mtimeMs) return;
    try {
      const parsed: unknown = JSON.parse(await readFile(this.#file, 'utf8'));
      if (changes !== this.#changes) return;
      this.#entries = Array.isArray(parsed) ? parsed.filter(isQuirk) : [];
      this.#mtimeMs = mtimeMs;
    } catch {
      // A torn or hand-broken file forgets the quirks: Barge then rediscovers them, losing nothing.
      this.#entries = [];
    }
  }

  /** The live quirk of this kind for the destination, if any. */
  get(destination: QuirkDestination | string, kind: QuirkKind): Quirk | undefined {
    const key = keyOf(destination);
    const now = this.#clock.now().getTime();
    return this.#entries.find((q) => q.destination === key && q.kind === kind && Date.parse(q.until) > now);
  }

  list(): Quirk[] {
    const now = this.#clock.now().getTime();
    return this.#entries.filter((q) => Date.parse(q.until) > now);
  }

  async remember(
    destination: QuirkDestination | string,
    kind: QuirkKind,
    reason: string,
    ttlMs: number,
    health?: BdatHealth,
  ): Promise<Quirk> {
    const now = this.#clock.now();
    const key = keyOf(destination);
    const name = typeof destination === 'string' || destination.name === destination.host ? {} : { name: destination.name };
    const quirk: Quirk = {
      destination: key,
      ...name,
      kind,
      reason,
      since: now.toISOString(),
      until: new Date(now.getTime() + ttlMs).toISOString(),
      ...(health === undefined ? {} : { health }),
    };
    this.#entries = [...this.list().filter((q) => !(q.destination === key && q.kind === kind)), quirk];
    await this.#save();
    return quirk;
  }

  /** Forgets one kind of quirk for a destination ("bdat-ok" once BDAT is found broken there). */
  async forget(destination: QuirkDestination | string, kind: QuirkKind): Promise<void> {
    const key = keyOf(destination);
    const before = this.#entries.length;
    this.#entries = this.#entries.filter((q) => !(q.destination === key && q.kind === kind));
    if (this.#entries.length !== before) await this.#save();
  }

  /**
   * Forgets quirks, or all of them; returns how many. `target` is "host:port" or "host" (every
   * port), where host is an address connected to or the name it was reached by.
   */
  async clear(target?: string): Promise<number> {
    const matches = target === undefined ? () => true : quirkMatcher(target);
    const before = this.#entries.length;
    this.#entries = this.#entries.filter((q) => !matches(q));
    const removed = before - this.#entries.length;
    if (removed > 0) await this.#save();
    return removed;
  }

  /** Writes durably (see durable-write.ts), one write at a time, so readers never see half a file. */
  #save(): Promise<void> {
    this.#changes++;
    const entries = this.list();
    const next = this.#writing.then(async () => {
      await writeFileDurably(this.#file, `${JSON.stringify(entries, null, 2)}\n`);
      this.#mtimeMs = (await stat(this.#file)).mtimeMs;
    });
    this.#writing = next.catch(() => undefined);
    return next;
  }
}

/** "address:port" for a next hop; a string is taken as already written that way. */
function keyOf(destination: QuirkDestination | string): string {
  return typeof destination === 'string' ? destination : formatHostPort(destination);
}

/** Which quirks a `clear` target names: by address or by host name, at one port or at all. */
export function quirkMatcher(target: string): (q: Quirk) => boolean {
  const hp = parseHostPort(target);
  const host = (hp?.host ?? parseHostPort(target, { defaultPort: 0, allowZero: true })?.host ?? target).toLowerCase();
  const port = hp?.port;
  return (q) => {
    const at = parseHostPort(q.destination);
    if (at === undefined) return q.destination === target;
    const samePort = port === undefined || at.port === port;
    return samePort && (at.host.toLowerCase() === host || q.name?.toLowerCase() === host);
  };
}

function isQuirk(v: unknown): v is Quirk {
  if (typeof v !== 'object' || v === null) return false;
  const q = v as Record<string, unknown>;
  if (q.name !== undefined && typeof q.name !== 'string') return false;
  if (q.health !== undefined && q.health !== 'new-session' && q.health !== 'reused-session') return false;
  const kind = typeof q.kind === 'string' && KINDS.includes(q.kind);
  return (
    typeof q.destination === 'string' && kind && typeof q.reason === 'string' && typeof q.since === 'string' && typeof q.until === 'string'
  );
}
