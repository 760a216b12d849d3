/**
 * Every socket read arrives in a buffer of its own (up to 64 KB), and V8 frees a dead one only at
 * the next young-generation collection, which comes after about a megabyte of JavaScript objects,
 * not of buffers. A large message read at disk speed would leave about 10 MB of dead read buffers
 * between collections, and the C heap keeps the size they grew it to. So after every megabyte or so
 * read (the quota is set in app/tuning.ts), the server asks for a young-generation collection (a
 * scavenge, cheap with the server's small young generation); small messages rarely reach the quota.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Collect = (options: { type: 'minor' }) => void;

function collector(): Collect | undefined {
  // The gc function of a context made while --expose-gc is set; the server's own global gets none.
  setFlagsFromString('--expose-gc');
  const gc: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
  setFlagsFromString('--no-expose-gc');
  return typeof gc === 'function' ? (gc as Collect) : undefined;
}

let collect: Collect | undefined | null = null;

/**
 * A counter of octets read from sockets that, past `quota` octets, collects the young generation
 * (the quota is the composition root's tuning; 0 turns pacing off).
 */
export function readPacer(quota: number): (octets: number) => void {
  let sinceCollection = 0;
  if (quota <= 0) return () => undefined;
  return (octets) => {
    sinceCollection += octets;
    if (sinceCollection < quota) return;
    sinceCollection = 0;
    if (collect === null) collect = collector();
    collect?.({ type: 'minor' });
  };
}
