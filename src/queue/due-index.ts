/**
 * When each queue entry is next due, kept in a binary min-heap so the runner takes what is due in
 * O(log n) each instead of reading every entry on every scan. Re-keying an entry pushes a new heap
 * node and leaves the old one to be skipped when it surfaces (lazy deletion); the heap is rebuilt
 * once stale nodes outnumber live ones, so memory stays proportional to the queue.
 */
import type { EntryState } from './entry-state.js';

interface Node {
  readonly id: string;
  readonly at: number;
}

export class DueIndex {
  #heap: Node[] = [];
  readonly #at = new Map<string, number>();

  get size(): number {
    return this.#at.size;
  }

  /** Sets (or moves) an entry's due time, in epoch milliseconds. */
  set(id: string, at: number): void {
    if (this.#at.get(id) === at) return;
    this.#at.set(id, at);
    this.#push({ id, at });
    if (this.#heap.length > 2 * this.#at.size + 64) this.#rebuild();
  }

  delete(id: string): void {
    this.#at.delete(id);
  }

  /** The earliest due time, or undefined when the index is empty. */
  next(): number | undefined {
    this.#skipStale();
    return this.#heap[0]?.at;
  }

  /** Removes and returns up to `limit` entries due at or before `now`, earliest first. */
  takeDue(now: number, limit = Number.POSITIVE_INFINITY): string[] {
    const out: string[] = [];
    for (;;) {
      this.#skipStale();
      const top = this.#heap[0];
      if (top === undefined || top.at > now || out.length >= limit) return out;
      this.#pop();
      this.#at.delete(top.id);
      out.push(top.id);
    }
  }

  #skipStale(): void {
    for (let top = this.#heap[0]; top !== undefined && this.#at.get(top.id) !== top.at; top = this.#heap[0]) this.#pop();
  }

  #push(node: Node): void {
    const h = this.#heap;
    h.push(node);
    for (let i = h.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      const p = h[parent];
      if (p === undefined || p.at <= node.at) break;
      h[i] = p;
      h[parent] = node;
      i = parent;
    }
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop();
    if (last === undefined || h.length === 0) return;
    h[0] = last;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let least = i;
      if ((h[l]?.at ?? Infinity) < (h[least]?.at ?? Infinity)) least = l;
      if ((h[r]?.at ?? Infinity) < (h[least]?.at ?? Infinity)) least = r;
      if (least === i) return;
      const a = h[i];
      const b = h[least];
      if (a === undefined || b === undefined) return;
      h[i] = b;
      h[least] = a;
      i = least;
    }
  }

  #rebuild(): void {
    this.#heap = [];
    for (const [id, at] of this.#at) this.#push({ id, at });
  }
}

/** When an entry is next due: its earliest pending recipient (0 = now), or undefined when none is pending. */
export function dueTime(state: EntryState): number | undefined {
  let earliest: number | undefined;
  for (const r of state.rcpts) {
    if (r.status !== 'pending') continue;
    const at = r.nextAttempt === undefined ? 0 : Date.parse(r.nextAttempt);
    if (earliest === undefined || at < earliest) earliest = at;
  }
  return earliest;
}
