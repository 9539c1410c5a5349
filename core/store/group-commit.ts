/**
 * Group commit for one statement shape: a call made while the previous batch is in flight waits,
 * and the calls that waited go together as one statement (one round trip, one commit). Idle, a
 * call goes at once (after the current tick, so that calls made together go together). DataLoader
 * collects the calls; this decides when a batch leaves. Each caller gets its own item's result.
 * A statement is all or nothing: when one of several fails, each call is tried again alone, so
 * that one call's failure (a row deleted meanwhile, say) fails that call only.
 */
import DataLoader from "dataloader";

export function groupCommit<I, O>(run: (items: readonly I[]) => Promise<O[]>, maxBatchSize = 500): (item: I) => Promise<O> {
  let busy = false;
  const waiting: Array<() => void> = [];
  const next = () => {
    const dispatch = waiting.shift();
    if (dispatch) dispatch();
    else busy = false;
  };
  const loader = new DataLoader<I, O>(
    async (items) => {
      try {
        return await run(items);
      } catch (err) {
        if (items.length === 1) throw err;
        return Promise.all(items.map((item) => run([item]).then((out) => out[0]!, (e: unknown) => (e instanceof Error ? e : new Error(String(e))))));
      } finally {
        next();
      }
    },
    {
      cache: false,
      maxBatchSize,
      batchScheduleFn: (dispatch) => {
        if (busy) waiting.push(dispatch);
        else {
          busy = true;
          process.nextTick(dispatch);
        }
      },
    },
  );
  return (item) => loader.load(item);
}
