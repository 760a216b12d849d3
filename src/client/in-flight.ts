/**
 * BDAT transfers under way, per destination ("host:port"), that may still be stopped without risk:
 * their LAST chunk has not gone out, so the peer cannot have accepted the message (RFC 3030 2: the
 * message is complete only with the last chunk). When one transfer finds BDAT broken on the path, the
 * others are stopped at once and resent by DATA instead of each waiting for its own timeout.
 */
export type StopTransfer = (reason: string) => void;

export class BdatInFlight {
  readonly #byDestination = new Map<string, Set<StopTransfer>>();

  /** Registers a transfer; the returned function unregisters it (call it before sending LAST). */
  enter(destination: string, stop: StopTransfer): () => void {
    const set = this.#byDestination.get(destination) ?? new Set<StopTransfer>();
    this.#byDestination.set(destination, set);
    set.add(stop);
    return () => {
      set.delete(stop);
      if (set.size === 0 && this.#byDestination.get(destination) === set) this.#byDestination.delete(destination);
    };
  }

  /** Stops every registered transfer to the destination; returns how many. */
  stopAll(destination: string, reason: string): number {
    const set = this.#byDestination.get(destination);
    if (set === undefined) return 0;
    this.#byDestination.delete(destination);
    for (const stop of set) stop(reason);
    return set.size;
  }
}
