/**
 * Log retention (`[log] keep_days`): the day files of the tracking log (`tracking/track-YYYYMMDD.jsonl`
 * and its index files, `tracking/index/track-YYYYMMDD.*`) and of every listener's W3C log
 * (`<folder>/exYYMMDD.log`) older than the last `keep_days` UTC days, today included, are removed;
 * 0 keeps everything. Only files named like Barge's day files are touched.
 *
 * Contract: `removeOldLogs` does one pass and returns what it removed; `keepLogs` does a pass at once
 * and then once a day on the injected clock (a virtual clock in tests), reading `keep_days` from the
 * configuration at each pass (it may be reloaded). Failures are reported, never thrown: an unremovable
 * file must not stop the server.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../time/clock.js';
import { dayKey } from './tracking-lines.js';
import { INDEX_FOLDER, indexDay } from './tracking-index.js';

const DAY = 86_400_000;
const TRACKING = /^track-(\d{8})\.jsonl$/;
const W3C = /^ex(\d{6})\.log$/;
export const TRACKING_FOLDER = 'tracking';

async function names(dir: string): Promise<string[]> {
  return readdir(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return [] as string[];
    throw e;
  });
}

/** Removes the files of `dir` whose day (`YYYYMMDD` from `day(name)`) is before `first`. */
async function removeBefore(dir: string, first: string, day: (name: string) => string | undefined): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await names(dir)) {
    const d = day(name);
    if (d === undefined || d >= first) continue;
    await rm(join(dir, name), { force: true });
    removed.push(join(dir, name));
  }
  return removed;
}

/** One pass over `<dataDir>/log` (`logDir`): the paths removed. */
export async function removeOldLogs(logDir: string, keepDays: number, now: Date): Promise<string[]> {
  if (keepDays <= 0) return [];
  const first = dayKey(now.getTime() - (keepDays - 1) * DAY);
  const tracking = join(logDir, TRACKING_FOLDER);
  const removed = [
    ...(await removeBefore(tracking, first, (n) => TRACKING.exec(n)?.[1])),
    ...(await removeBefore(join(tracking, INDEX_FOLDER), first, indexDay)),
  ];
  // Every other folder is a listener's W3C log (folders of listeners since removed included).
  for (const folder of await names(logDir)) {
    if (folder === TRACKING_FOLDER) continue;
    removed.push(
      ...(await removeBefore(join(logDir, folder), first, (n) => {
        const yymmdd = W3C.exec(n)?.[1];
        return yymmdd === undefined ? undefined : `20${yymmdd}`;
      })),
    );
  }
  return removed;
}

export interface LogRetention {
  /** Resolves when the pass under way (if any) is done. */
  idle(): Promise<void>;
  stop(): void;
}

export function keepLogs(options: {
  readonly logDir: string;
  readonly keepDays: () => number;
  readonly clock: Clock;
  readonly onError: (e: Error) => void;
}): LogRetention {
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  const pass = (): void => {
    running = running
      .then(() => (stopped ? undefined : removeOldLogs(options.logDir, options.keepDays(), options.clock.now())))
      .then(
        () => undefined,
        (e: unknown) => options.onError(e instanceof Error ? e : new Error(String(e))),
      );
  };
  const timer = options.clock.after(DAY, () => {
    pass();
    timer.restart();
  });
  pass();
  return {
    idle: () => running,
    stop: () => {
      stopped = true;
      timer.cancel();
    },
  };
}
