/**
 * The contract every PoolGate holds, run against each backend (STYLE "One seam per backend").
 * Call `gateContract(name, harness)` inside a test file.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { GateClosedError, type PoolGate, type Slot } from "../../server/pools/gate.ts";
import { runInPool } from "../../server/pools/run-in-pool.ts";

export interface GateHarness {
  /** A fresh gate in a namespace of its own. */
  make(): PoolGate;
  /** True when the gate's clock is in-process, so fake timers drive pauses (no real waiting). */
  fakeClock: boolean;
  /** Let grants already decided reach the caller, before asserting that a waiter still waits. */
  settle(): Promise<void>;
  /** Remove what the test left in the backend. */
  cleanup(): Promise<void>;
}

interface Tracked<T> {
  promise: Promise<T>;
  readonly settled: boolean;
}

function track<T>(promise: Promise<T>): Tracked<T> {
  let settled = false;
  const tracked = promise.finally(() => {
    settled = true;
  });
  tracked.catch(() => {});
  return {
    promise: tracked,
    get settled() {
      return settled;
    },
  };
}

class RateLimited extends Error {
  constructor(readonly retryAfterMs?: number) {
    super("429 rate limit");
  }
}
const classify = (err: unknown) => (err instanceof RateLimited ? { retryAfterMs: err.retryAfterMs } : null);

const PAUSE_MS = 300;

export function gateContract(name: string, h: GateHarness): void {
  describe(`PoolGate contract: ${name}`, () => {
    let gate: PoolGate;
    beforeEach(() => {
      if (h.fakeClock) vi.useFakeTimers();
      gate = h.make();
    });
    afterEach(async () => {
      await gate.close();
      vi.useRealTimers();
      await h.cleanup();
    });

    /** Advance the clock by `ms` where it is in-process; elsewhere real time passes by itself. */
    const pass = async (ms: number) => {
      if (h.fakeClock) await vi.advanceTimersByTimeAsync(ms);
    };

    it("never lets more than the limit in flight, and fills it", async () => {
      let inFlight = 0;
      let most = 0;
      const task = async (i: number) => {
        const slot = await gate.acquire("p", 3);
        inFlight++;
        most = Math.max(most, inFlight);
        for (let k = 0; k < (i % 4) + 1; k++) await Promise.resolve();
        await new Promise<void>((r) => setImmediate(r));
        inFlight--;
        await slot.release();
      };
      if (h.fakeClock) vi.useRealTimers(); // setImmediate drives the tasks here
      await Promise.all(Array.from({ length: 40 }, (_, i) => task(i)));
      expect(most).toBe(3);
    });

    it("grants in FIFO order within a pool", async () => {
      let held = await gate.acquire("p", 1);
      const order: number[] = [];
      const waiters = Array.from({ length: 6 }, (_, i) =>
        gate.acquire("p", 1).then((slot) => {
          order.push(i);
          return slot;
        }),
      );
      for (const next of waiters) {
        await held.release();
        held = await next;
      }
      await held.release();
      expect(order).toEqual([0, 1, 2, 3, 4, 5]);
    });

    it("keeps pools independent", async () => {
      const a = await gate.acquire("pool-a", 1);
      const blocked = track(gate.acquire("pool-a", 1));
      const b = await gate.acquire("pool-b", 1);
      await h.settle();
      expect(blocked.settled).toBe(false);
      await b.release();
      await a.release();
      await (await blocked.promise).release();
    });

    it("applies a level change to the next request", async () => {
      const first = [await gate.acquire("p", 2), await gate.acquire("p", 2)];
      const raised = await gate.acquire("p", 3); // granted at once: the new level is 3
      await Promise.all([...first, raised].map((s) => s.release()));

      const d = await gate.acquire("p", 1);
      const e = track(gate.acquire("p", 1)); // lowered to 1: waits
      await h.settle();
      expect(e.settled).toBe(false);
      const f = track(gate.acquire("p", 2)); // raised to 2: the queued e goes first
      const eSlot = await e.promise;
      await h.settle();
      expect(f.settled).toBe(false);
      await d.release();
      const fSlot = await f.promise;
      await eSlot.release();
      await fSlot.release();
    });

    it("pause blocks grants, then resumes", async () => {
      const held = await gate.acquire("p", 2);
      await gate.pause("p", PAUSE_MS);
      const started = Date.now();
      const waiter = track(gate.acquire("p", 2));
      await held.release(); // a release inside the pause grants nothing
      await h.settle();
      expect(waiter.settled).toBe(false);
      await pass(PAUSE_MS);
      const slot = await waiter.promise;
      expect(Date.now() - started).toBeGreaterThanOrEqual(PAUSE_MS - 20);
      await slot.release();
      // A shorter pause does not cut a longer one short.
      await gate.pause("p", PAUSE_MS);
      await gate.pause("p", 1);
      const again = track(gate.acquire("p", 2));
      await pass(50);
      await h.settle();
      expect(again.settled).toBe(false);
      await pass(PAUSE_MS);
      await (await again.promise).release();
    });

    it("an aborted waiter leaves the queue", async () => {
      const held = await gate.acquire("p", 1);
      const controller = new AbortController();
      const aborted = track(gate.acquire("p", 1, { signal: controller.signal }));
      const next = track(gate.acquire("p", 1));
      controller.abort();
      await expect(aborted.promise).rejects.toMatchObject({ name: "AbortError" });
      await held.release();
      await (await next.promise).release();
      await expect(gate.acquire("p", 1, { signal: AbortSignal.abort() })).rejects.toMatchObject({
        name: "AbortError",
      });
      // Nothing is left behind: the pool is free.
      await (await gate.acquire("p", 1)).release();
    });

    it("rejects a limit that is not an integer from 1", async () => {
      await expect(gate.acquire("p", 0)).rejects.toThrow(RangeError);
      await expect(gate.acquire("p", 2.5)).rejects.toThrow(RangeError);
    });

    it("close rejects waiters with GateClosedError", async () => {
      await gate.acquire("p", 1);
      const waiter = track(gate.acquire("p", 1));
      await h.settle();
      await gate.close();
      await expect(waiter.promise).rejects.toBeInstanceOf(GateClosedError);
      await expect(gate.acquire("p", 1)).rejects.toBeInstanceOf(GateClosedError);
    });

    describe("runInPool", () => {
      it("pauses the pool on a rate limit and retries", async () => {
        let calls = 0;
        const run = track(
          runInPool(
            gate,
            { id: "p", limit: () => 2 },
            async () => {
              calls++;
              if (calls === 1) throw new RateLimited(PAUSE_MS);
              return "done";
            },
            { classify },
          ),
        );
        await h.settle();
        await h.settle();
        expect(calls).toBe(1);
        // The whole pool is paused, not just the failed request.
        const other = track(gate.acquire("p", 2));
        await h.settle();
        expect(other.settled).toBe(false);
        await pass(PAUSE_MS);
        expect(await run.promise).toBe("done");
        expect(calls).toBe(2);
        await (await other.promise).release();
      });

      it("backs off exponentially when no Retry-After is given, and gives up after maxAttempts", async () => {
        let calls = 0;
        const run = track(
          runInPool(
            gate,
            { id: "p", limit: 1 },
            async () => {
              calls++;
              throw new RateLimited();
            },
            { classify, maxAttempts: 3, backoff: { baseMs: 20, maxMs: 40 }, random: () => 1 },
          ),
        );
        await pass(20); // 1st backoff: 20 ms
        await pass(40); // 2nd: 40 ms
        await expect(run.promise).rejects.toBeInstanceOf(RateLimited);
        expect(calls).toBe(3);
        await (await gate.acquire("p", 1)).release();
      });

      it("rethrows other errors at once and gives the slot back", async () => {
        let calls = 0;
        const boom = new Error("boom");
        await expect(
          runInPool(gate, { id: "p", limit: 1 }, async () => {
            calls++;
            throw boom;
          }, { classify }),
        ).rejects.toBe(boom);
        expect(calls).toBe(1);
        await (await gate.acquire("p", 1)).release();
      });
    });
  });
}

export type { Slot };
