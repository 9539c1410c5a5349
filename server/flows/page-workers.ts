/**
 * A page's records worked on by a few workers at once (the pool still bounds the requests in
 * flight): each worker takes the next record while `go()` holds. A worker that throws (a
 * permanent source failure) stops the others; the error is rethrown once none is left running,
 * so no worker outlives the run.
 */
export async function workPage<T>(items: readonly T[], width: number, go: () => boolean, one: (item: T) => Promise<void>): Promise<{ started: number }> {
  let next = 0;
  let halt = false;
  const worker = async () => {
    try {
      while (next < items.length && !halt && go()) await one(items[next++]!);
    } catch (err) {
      halt = true;
      throw err;
    }
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(width, items.length) }, worker));
  const rejected = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (rejected) throw rejected.reason;
  return { started: next };
}
