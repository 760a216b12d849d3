/**
 * Compaction of the segment log. Segments are reused oldest first, so one message deferred for days
 * in the oldest segment would keep every newer segment from being reused, and the log would grow
 * with all the mail that passed meanwhile. When the log takes its last free segment (or grows), the
 * oldest segment's live records (messages and current states) are written again at the head of the
 * log, provided they fill at most half a segment; the oldest segment then holds nothing live and is
 * reused. So the log stays within about twice its live data, plus a few segments.
 */
import type { LiveIndex, Location } from './live-index.js';
import type { SegmentReaders } from './segment-readers.js';
import type { Pending } from './pending.js';
import { encodeMessage, encodeState, HEADER, messageSize, stateSize } from './record.js';

export interface CompactionPlan {
  /** The segment to empty. */
  readonly victim: number;
  /** Entries with a record in it. */
  readonly ids: readonly string[];
}

/** Below this many segments in use, the log just grows: compaction would save little. */
const MIN_SEGMENTS = 4;

/** `counts`: live records per segment, oldest first; `current`: the segment being appended to. */
export function compactionPlan(
  live: ReadonlyMap<string, Location>,
  counts: ReadonlyMap<number, number>,
  current: number,
  segmentSize: number,
): CompactionPlan | undefined {
  if (counts.size < MIN_SEGMENTS) return undefined;
  let victim: number | undefined;
  for (const [g, n] of counts) {
    if (g !== current && n > 0) victim = g;
    break;
  }
  if (victim === undefined) return undefined;
  const ids: string[] = [];
  let bytes = 0;
  for (const [id, at] of live) {
    const message = at.generation === victim;
    const state = at.state !== undefined && (message || at.state.generation === victim);
    if (!message && !state) continue;
    ids.push(id);
    // A moved message takes its current state with it.
    if (message) bytes += HEADER + id.length + at.envelope.length + at.length;
    if (state) bytes += HEADER + id.length + (at.state?.json.length ?? 0);
    if (bytes > segmentSize / 2) return undefined;
  }
  return { victim, ids };
}

/**
 * The records that write the victim segment's live messages and states again at the head of the log
 * (to go first in the flusher's queue); undefined when nothing is to move or a message cannot be read.
 */
export async function compactionMoves(
  index: LiveIndex,
  readers: SegmentReaders,
  generation: number,
  segmentSize: number,
): Promise<Pending[] | undefined> {
  const plan = compactionPlan(index.entries(), index.counts(), generation, segmentSize);
  if (plan === undefined) return undefined;
  const moves: Pending[] = [];
  const settled = (): void => undefined;
  for (const id of plan.ids) {
    const at = index.get(id);
    if (at === undefined) continue;
    const state = at.state;
    if (at.generation === plan.victim) {
      let bytes: Buffer[] = [];
      if (at.length > 0) {
        // Unreadable: the segment stays as it is (below).
        const read = await readers.read(at.generation, at.offset, at.length).catch(() => undefined);
        if (read === undefined) return undefined; // unreadable: the segment stays as it is
        bytes = [read];
      }
      const size = messageSize(id, at.envelope, bytes);
      const apply = (g: number, offset: number): void =>
        index.add(id, { generation: g, offset: offset + size - at.length, length: at.length, envelope: at.envelope });
      moves.push({ build: (g) => encodeMessage(g, id, at.envelope, bytes), size, apply, resolve: settled });
    }
    if (state !== undefined) {
      moves.push({
        build: (g) => encodeState(g, id, state.json),
        size: stateSize(id, state.json),
        apply: (g) => index.setState(id, g, state.json),
        resolve: settled,
      });
    }
  }
  return moves;
}
