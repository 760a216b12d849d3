/**
 * Streams one transaction's content into the client session while the session wants it and the
 * socket takes it (backpressure both ways). The transaction may have its outcome before its content
 * is read to the end (the peer answered LAST): the pump is then stopped, so this content can never
 * reach the next transaction on a reused session.
 */
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';

/** What the pump feeds: the session's socket shell. */
export interface ContentSink {
  /** Whether the session takes content now. */
  readonly wantsBody: () => boolean;
  readonly body: (chunk: Buffer) => void;
  readonly bodyEnd: () => void;
  /** The content could not be read (Barge's failure, not the peer's). */
  readonly unreadable: (reason: string) => void;
  /** The socket now (it changes at STARTTLS). */
  readonly socket: () => Socket;
}

export class ContentPump {
  readonly #open: (converted?: string) => Readable;
  #stream: Readable | undefined;
  #stopped = false;
  #wake: (() => void) | undefined;

  /** `open` gives the content, downconverted when `converted` is set. */
  constructor(open: (converted?: string) => Readable) {
    this.#open = open;
  }

  async run(converted: string | undefined, sink: ContentSink): Promise<void> {
    const stream = this.#open(converted);
    this.#stream = stream;
    try {
      for await (const chunk of stream) {
        await this.#untilWanted(sink);
        if (this.#stopped) return;
        sink.body(chunk as Buffer);
        const socket = sink.socket();
        if (socket.writableNeedDrain) await drainedOrClosed(socket);
      }
      await this.#untilWanted(sink);
      if (!this.#stopped) sink.bodyEnd();
    } catch (e) {
      // Destroyed because the transaction already has its outcome: nothing more to say.
      if (this.#stopped) return;
      sink.unreadable(`content: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** The session moved on: look again whether it wants content. */
  wake(): void {
    this.#wake?.();
  }

  /** The transaction has its outcome: nothing more of this content goes out. */
  stop(): void {
    this.#stopped = true;
    this.#stream?.destroy();
    this.wake();
  }

  async #untilWanted(sink: ContentSink): Promise<void> {
    while (!sink.wantsBody() && !this.#stopped) await new Promise<void>((resolve) => (this.#wake = resolve));
  }
}

/** Resolves when the socket takes writes again, or is gone (a reset socket never drains). */
function drainedOrClosed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    const done = (): void => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}
