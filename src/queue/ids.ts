/** Queue ids: sortable by arrival time (base-36 milliseconds), unique by a random suffix. */
import { randomBytes } from 'node:crypto';

export type IdSource = () => string;

export function makeIdSource(now: () => Date = () => new Date(), random: (n: number) => Buffer = randomBytes): IdSource {
  return () => `${now().getTime().toString(36).toUpperCase().padStart(9, '0')}${random(5).toString('hex').toUpperCase()}`;
}
