/** A listener's W3C log that also shows each entry to an observer (the console's metrics). */
import { W3cLog, type ProtocolLogEntry, type W3cLogOptions } from './w3c.js';

export class ObservedW3cLog extends W3cLog {
  readonly #observe: (entry: ProtocolLogEntry) => void;
  constructor(options: W3cLogOptions, observe: (entry: ProtocolLogEntry) => void) {
    super(options);
    this.#observe = observe;
  }
  override write(entry: ProtocolLogEntry): void {
    super.write(entry);
    this.#observe(entry);
  }
}
