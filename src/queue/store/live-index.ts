/**
 * The segment log's bookkeeping: where each live entry's message record and current STATE record
 * lie, how many live records each segment holds, and which segments are free for reuse. Segments
 * are retired oldest first only: a DONE or STATE record always lies in its message's segment or a
 * newer one, so a record that still matters is never behind a reused segment.
 */
import { parse } from './record.js';

export interface Location {
  readonly generation: number;
  readonly offset: number;
  readonly length: number;
  readonly envelope: string;
  /** The current STATE record and the segment holding it, which must outlive the message. */
  state?: { readonly generation: number; readonly json: string };
}

export class LiveIndex {
  readonly #live = new Map<string, Location>();
  /** Live messages and current states per segment generation, oldest first (Map keeps insertion order). */
  readonly #count = new Map<number, number>();
  readonly #free: number[] = [];
  /** The segment being appended to, never retired. */
  readonly #current: () => number;
  readonly #retired: (generation: number) => void;

  constructor(current: () => number, retired: (generation: number) => void) {
    this.#current = current;
    this.#retired = retired;
  }

  /** Takes in a segment's records at start-up; returns true when the segment ended in a torn record. */
  replay(generation: number, segment: Buffer): boolean {
    this.opened(generation);
    for (let at = 0; ; ) {
      const p = parse(segment, at, generation);
      if (p.kind !== 'record') return p.kind === 'torn';
      const r = p.record;
      if (r.type === 'message')
        this.add(r.id, { generation, offset: at + r.bodyOffset, length: r.bodyLength, envelope: r.envelope }, false);
      else if (r.type === 'state') this.setState(r.id, generation, r.state, false);
      else this.drop(r.id, false);
      at += p.size;
    }
  }

  get(id: string): Location | undefined {
    return this.#live.get(id);
  }

  get size(): number {
    return this.#live.size;
  }

  /** Live ids, oldest first. */
  ids(): string[] {
    return [...this.#live.keys()];
  }

  entries(): ReadonlyMap<string, Location> {
    return this.#live;
  }

  /** Live records per segment, oldest first. */
  counts(): ReadonlyMap<number, number> {
    return this.#count;
  }

  get freeSegments(): number {
    return this.#free.length;
  }

  /** A free segment to reuse, oldest retired first. */
  takeFree(): number | undefined {
    return this.#free.shift();
  }

  opened(generation: number): void {
    this.#count.set(generation, 0);
  }

  /**
   * A message record again for a live id (its content rewritten, or moved) keeps the entry's state.
   * `retire` is false during replay: a segment looks empty until all of it has been read.
   */
  add(id: string, at: Location, retire = true): void {
    const before = this.#live.get(id);
    if (before !== undefined) at.state = before.state;
    this.#live.set(id, at);
    this.#ref(at.generation, 1);
    if (before !== undefined) this.#ref(before.generation, -1, retire);
  }

  setState(id: string, generation: number, json: string, retire = true): void {
    const at = this.#live.get(id);
    if (at === undefined) return;
    const before = at.state;
    at.state = { generation, json };
    this.#ref(generation, 1);
    if (before !== undefined) this.#ref(before.generation, -1, retire);
  }

  drop(id: string, retire = true): void {
    const at = this.#live.get(id);
    if (at === undefined) return;
    this.#live.delete(id);
    this.#ref(at.generation, -1, false);
    if (at.state !== undefined) this.#ref(at.state.generation, -1, false);
    if (retire) this.retireOldest();
  }

  /** Retires empty segments from the oldest on, up to the first that holds a live record. */
  retireOldest(current: number | undefined = this.#current()): void {
    for (const [g, n] of this.#count) {
      if (n > 0 || g === current) break;
      this.#count.delete(g);
      this.#free.push(g);
      this.#retired(g);
    }
  }

  #ref(generation: number, delta: number, retire = true): void {
    this.#count.set(generation, (this.#count.get(generation) ?? 0) + delta);
    if (delta < 0 && retire) this.retireOldest();
  }
}
