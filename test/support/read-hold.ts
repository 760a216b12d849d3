/**
 * A hold for the segment readers' `beforeRead` test seam: it holds the next read that reaches it
 * (its segment's handle already open) until `open()`, so a test keeps a read in flight while it
 * retires, compacts or reuses the segment.
 */
export class ReadHold {
  #armed = false;
  #held: Array<() => void> = [];
  #reached: (() => void) | undefined;

  /** The next read to reach the gate is held; the others pass. */
  holdNext(): void {
    this.#armed = true;
  }

  /** For `beforeRead`. */
  readonly pass = (): Promise<void> => {
    if (!this.#armed) return Promise.resolve();
    this.#armed = false;
    return new Promise((release) => {
      this.#held.push(release);
      this.#reached?.();
    });
  };

  /** Resolves once a read is held at the gate. */
  async holding(): Promise<void> {
    while (this.#held.length === 0) await new Promise<void>((wake) => (this.#reached = wake));
  }

  open(): void {
    for (const release of this.#held.splice(0)) release();
  }
}

/** 'settled' when `p` settles within `ms` (event-loop rounds, timers and I/O included), else 'pending'. */
export function settlesWithin(p: Promise<unknown>, ms: number): Promise<'settled' | 'pending'> {
  const settled = (): 'settled' => 'settled';
  return Promise.race([p.then(settled, settled), new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), ms))]);
}
