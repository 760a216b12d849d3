/**
 * `barge queue list | show ID | retry ID | flush | delete ID`: read and adjust the spool of a running
 * or stopped server. Retry and flush make entries due now; a running server takes them at its next scan.
 */
import type { Config } from '../config/types.js';
import { Spool, type SpoolEnvelope } from '../queue/spool.js';
import { initialState, type EntryState } from '../queue/runner.js';
import { dataPaths } from '../server/run.js';

export async function runQueue(config: Config, args: readonly string[], out: (l: string) => void, err: (l: string) => void): Promise<number> {
  const [sub, id] = args;
  const spool = await Spool.open(dataPaths(config.dataDir).spool, { cleanIncoming: false });
  const load = async (entry: string): Promise<{ envelope: SpoolEnvelope; state: EntryState }> => {
    const envelope = await spool.readEnvelope(entry);
    return { envelope, state: (await spool.readState<EntryState>(entry)) ?? initialState(envelope) };
  };
  switch (sub) {
    case 'list': {
      const ids = await spool.list();
      for (const entry of ids) {
        const { envelope, state } = await load(entry);
        const pending = state.rcpts.filter((r) => r.status === 'pending');
        const next = pending.map((r) => r.nextAttempt).filter((t) => t !== undefined).sort()[0];
        out(`${entry}  ${envelope.receivedAt}  ${envelope.size} bytes  <${envelope.transaction.from}>  ${envelope.method}${envelope.method === 'BDAT' ? `/${envelope.chunks}` : ''}`);
        for (const r of pending) out(`    ${r.address}  ${r.local ? 'local' : 'relay'}  attempts ${r.attempts}${r.lastResult === undefined ? '' : `  ${r.lastResult}`}`);
        if (next !== undefined) out(`    next attempt ${next}`);
      }
      out(`${ids.length} message(s) in the queue`);
      return 0;
    }
    case 'show': {
      if (id === undefined || !/^[A-Z0-9]+$/.test(id)) {
        err('usage: barge queue show ID');
        return 2;
      }
      try {
        const { envelope, state } = await load(id);
        out(JSON.stringify({ envelope, state }, null, 2));
        return 0;
      } catch (e) {
        err(`barge: no queue entry ${id} (${e instanceof Error ? e.message : String(e)})`);
        return 1;
      }
    }
    case 'flush':
    case 'retry': {
      const ids = sub === 'flush' ? await spool.list() : id === undefined ? [] : [id];
      if (ids.length === 0 && sub === 'retry') {
        err('usage: barge queue retry ID');
        return 2;
      }
      let changed = 0;
      for (const entry of ids) {
        const { state } = await load(entry).catch(() => ({ state: undefined }));
        if (state === undefined) continue;
        for (const r of state.rcpts) delete r.nextAttempt;
        await spool.writeState(entry, state);
        changed++;
      }
      // A running server takes due entries at its next scan (or at once on ETRN).
      out(`${changed} message(s) due now; a running server retries them within ${Math.round(config.queue.scanIntervalMs / 1000)} s`);
      return sub === 'retry' && changed === 0 ? 1 : 0;
    }
    case 'delete': {
      if (id === undefined || !/^[A-Z0-9]+$/.test(id)) {
        err('usage: barge queue delete ID');
        return 2;
      }
      const exists = (await spool.list()).includes(id);
      if (!exists) {
        err(`barge: no queue entry ${id}`);
        return 1;
      }
      await spool.remove(id);
      out(`${id} deleted (no notice sent to the sender)`);
      return 0;
    }
    default:
      err('usage: barge queue list | show ID | retry ID | flush | delete ID');
      return 2;
  }
}
