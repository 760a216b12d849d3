/** `barge queue list` and `barge queue show ID`: read the spool of a (running or stopped) server. */
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
    default:
      err('usage: barge queue list | barge queue show ID');
      return 2;
  }
}
