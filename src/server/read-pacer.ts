/**
 * Every socket read arrives in a buffer of its own (up to 64 KB), and V8 frees a dead one only at
 * the next young-generation collection, which comes after about a megabyte of JavaScript objects,
 * not of buffers. A large message read at disk speed would leave about 10 MB of dead read buffers
 * between collections, and the C heap keeps the size they grew it to. So after every READ_QUOTA
 * octets read, the server asks for a young-generation collection (a scavenge: well under a
 * millisecond with the server's small young generation); small messages rarely reach the quota.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Measured: more often is worse (bytes still in flight survive two collections and move to the old generation). */
const READ_QUOTA = 1024 * 1024;

type Collect = (options: { type: 'minor' }) => void;

function collector(): Collect | undefined {
  // The gc function of a context made while --expose-gc is set; the server's own global gets none.
  setFlagsFromString('--expose-gc');
  const gc: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
  setFlagsFromString('--no-expose-gc');
  return typeof gc === 'function' ? (gc as Collect) : undefined;
}

let collect: Collect | undefined | null = null;
let sinceCollection = 0;

/** Counts octets read from a socket; past the quota, collects the young generation. */
export function paceRead(octets: number): void {
  sinceCollection += octets;
  if (sinceCollection < READ_QUOTA) return;
  sinceCollection = 0;
  if (collect === null) collect = collector();
  collect?.({ type: 'minor' });
}
