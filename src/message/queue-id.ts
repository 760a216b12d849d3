/** Queue ids: sortable by arrival time (base-36 milliseconds), unique by a random suffix. */
import { randomBytes } from 'node:crypto';
import { realClock, type Clock } from '../time/clock.js';

export type IdSource = () => string;

const SUFFIX = 5;
/** Random octets drawn at a time: one call into the CSPRNG serves this many ids / SUFFIX. */
const POOL = 4096;

/** Random suffixes from a pool, so an id costs no call into the CSPRNG (and its fork check) of its own. */
function pooled(random: (n: number) => Buffer): () => string {
  let pool: Buffer = Buffer.alloc(0);
  let at = 0;
  return () => {
    if (at + SUFFIX > pool.length) {
      pool = random(POOL);
      at = 0;
    }
    at += SUFFIX;
    return pool.toString('hex', at - SUFFIX, at).toUpperCase();
  };
}

export function makeIdSource(clock: Clock = realClock, random: (n: number) => Buffer = randomBytes): IdSource {
  const suffix = pooled(random);
  return () => `${clock.now().getTime().toString(36).toUpperCase().padStart(9, '0')}${suffix()}`;
}

const ID = /^[0-9A-Z]{9}[0-9A-F]{10}$/;

/** When a queue id was made (its arrival), from its leading base-36 milliseconds; undefined for anything else. */
export function arrivalTime(id: string): number | undefined {
  if (!ID.test(id)) return undefined;
  return parseInt(id.slice(0, 9), 36);
}
