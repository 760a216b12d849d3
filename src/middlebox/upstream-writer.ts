/**
 * The relay's path toward the server. Bytes are written in order with backpressure (a full
 * upstream pauses the client); the tarpit mode may hold bytes until a release time, and
 * everything after them waits behind them, so the server sees the client's stream unreordered.
 * Past a high-water mark of held bytes the client is paused, keeping memory bounded.
 */
import type { Socket } from 'node:net';

/** Past this many held bytes the tarpit stops reading from the client. */
const TARPIT_HIGH_WATER = 1 << 20;
/** After the client leaves, how long a half-closed upstream may linger before it is cut. */
const LINGER_MS = 2000;

export class UpstreamWriter {
  readonly #client: Socket;
  readonly #upstream: Socket;
  readonly #tarpit: { data: Buffer; at: number }[] = [];
  #tarpitBytes = 0;
  #timer: NodeJS.Timeout | undefined;
  #ending = false;
  #pausedForDrain = false;
  #pausedForTarpit = false;

  constructor(client: Socket, upstream: Socket) {
    this.#client = client;
    this.#upstream = upstream;
  }

  /** Writes toward the server, behind anything the tarpit still holds. */
  write(data: Buffer, holdUntil: number): void {
    if (this.#tarpit.length > 0 || holdUntil > Date.now()) {
      this.#tarpit.push({ data, at: holdUntil });
      this.#tarpitBytes += data.length;
      if (this.#tarpitBytes > TARPIT_HIGH_WATER && !this.#pausedForTarpit) {
        this.#pausedForTarpit = true;
        this.#client.pause();
      }
      this.#schedule();
      return;
    }
    this.#write(data);
  }

  /** Drops whatever is held: the connection is gone. */
  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#tarpit.length = 0;
  }

  /** The client left cleanly: deliver what is still held, then close the upstream too. */
  endWhenFlushed(): void {
    this.#ending = true;
    if (this.#tarpit.length > 0) return;
    this.#upstream.end();
    setTimeout(() => this.#upstream.destroy(), LINGER_MS).unref();
  }

  #write(data: Buffer): void {
    if (this.#upstream.destroyed) return;
    if (!this.#upstream.write(data) && !this.#pausedForDrain) {
      this.#pausedForDrain = true;
      this.#client.pause();
      this.#upstream.once('drain', () => {
        this.#pausedForDrain = false;
        if (!this.#pausedForTarpit) this.#client.resume();
      });
    }
  }

  #schedule(): void {
    const head = this.#tarpit[0];
    if (this.#timer !== undefined || head === undefined) return;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#release();
      },
      Math.max(0, head.at - Date.now()),
    );
  }

  #release(): void {
    const now = Date.now();
    for (let head = this.#tarpit[0]; head !== undefined && head.at <= now; head = this.#tarpit[0]) {
      this.#tarpit.shift();
      this.#tarpitBytes -= head.data.length;
      this.#write(head.data);
    }
    if (this.#pausedForTarpit && this.#tarpitBytes <= TARPIT_HIGH_WATER / 2) {
      this.#pausedForTarpit = false;
      if (!this.#pausedForDrain) this.#client.resume();
    }
    if (this.#tarpit.length > 0) this.#schedule();
    else if (this.#ending) this.endWhenFlushed();
  }
}
