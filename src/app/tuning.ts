/**
 * The performance switches, in one place; the composition root hands each to its user, so no module
 * below decides how it is tuned. What each one gains is measured by `npm run bench` (see docs/bench.md),
 * and a switch stays only while a bench row shows it matters.
 *
 * Settings that must be in force before the first line of JavaScript runs (V8's young generation,
 * compilation on the main thread, the size of libuv's thread pool) are set where the process starts:
 * bin/barge.js, `npm start` and the bench.
 */
export interface Tuning {
  /** Whether the segment log writes a lone small record inline, given the clients connected now. */
  readonly inlineLoneWrites: (connectedClients: number) => boolean;
  /** Octets read from sockets after which the server asks for a young-generation collection (0: never). */
  readonly collectAfterReadOctets: number;
}

export const TUNING: Tuning = {
  // With one client the loop has nothing else to do while the disk writes; with several, it has.
  inlineLoneWrites: (connectedClients) => connectedClients === 1,
  // Dead socket-read buffers are freed only by a young-generation collection, which V8 paces by objects.
  collectAfterReadOctets: 1024 * 1024,
};
