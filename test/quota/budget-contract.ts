/**
 * The contract every QuotaBudget holds, run against each backend (STYLE "One seam per backend").
 * Time is a FakeClock the suite moves by hand, so minutes of pacing take milliseconds.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BudgetClosedError, headroom, type BucketRef, type QuotaBudget } from "../../server/quota/budget.ts";
import { FakeClock } from "./fake-clock.ts";

export interface BudgetHarness {
  /** A fresh budget on `clock`, in a namespace of its own. */
  make(clock: FakeClock): QuotaBudget;
  cleanup(): Promise<void>;
}

interface Call {
  units: number;
  buckets: BucketRef[];
  scope?: string;
}

const user = (email: string, unitsPerMinute = 6_000): BucketRef => ({ key: `user:${email}`, unitsPerMinute });
/** Poll `cond` each turn of the event loop (a Redis reply is a turn or two away). */
async function until(cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("timed out waiting for the budget");
    await new Promise((r) => setImmediate(r));
  }
}
const project = (unitsPerMinute: number): BucketRef => ({ key: "project", unitsPerMinute });

/** Most units started inside any window of `windowMs` (a sliding window over the start times). */
function mostInWindow(starts: number[], units: number[], windowMs: number): number {
  const order = starts.map((t, i) => [t, units[i]] as const).sort((a, b) => a[0] - b[0]);
  let most = 0;
  let sum = 0;
  let lo = 0;
  for (let hi = 0; hi < order.length; hi++) {
    sum += order[hi][1];
    while (order[hi][0] - order[lo][0] >= windowMs) sum -= order[lo++][1];
    most = Math.max(most, sum);
  }
  return most;
}

export function budgetContract(name: string, h: BudgetHarness): void {
  describe(`QuotaBudget contract: ${name}`, () => {
    let clock: FakeClock;
    let budget: QuotaBudget;
    beforeEach(() => {
      clock = new FakeClock();
      budget = h.make(clock);
    });
    afterEach(async () => {
      await budget.close();
      await h.cleanup();
    });

    /**
     * Run `calls` in order with at most `workers` waiting at once (a pool's worth), moving the
     * clock whenever every worker is asleep; the clock time at which each call started.
     */
    async function simulate(calls: Call[], workers = calls.length): Promise<number[]> {
      const starts: number[] = [];
      let next = 0;
      let idle = 0;
      const width = Math.min(workers, calls.length);
      const worker = async () => {
        while (next < calls.length) {
          const i = next++;
          const c = calls[i];
          await budget.take(c.scope ?? "ic", c.buckets, c.units);
          starts[i] = clock.now();
        }
        idle++;
      };
      const all = Array.from({ length: width }, worker);
      for (;;) {
        await until(() => clock.sleeping + idle === width);
        if (idle === width) break;
        await clock.next();
      }
      await Promise.all(all);
      return starts;
    }

    it("lets the headroom through at once, then paces the rest", async () => {
      const t0 = clock.now();
      const n = headroom(6_000) / 5; // 24 calls of 5 units
      const starts = await simulate(Array.from({ length: n + 1 }, () => ({ units: 5, buckets: [user("a@x")] })));
      expect(starts.slice(0, n).every((t) => t === t0)).toBe(true);
      expect(starts[n]).toBeGreaterThan(t0);
    });

    it("stays under the limit in every sliding minute and every moving-average second, within 5 % of the pace the limit allows", async () => {
      const t0 = clock.now();
      const costs = [5, 5, 1, 25, 5, 100, 2, 5, 50, 10];
      const units = Array.from({ length: 1_000 }, (_, i) => costs[i % costs.length]);
      const starts = await simulate(units.map((u) => ({ units: u, buckets: [user("a@x")] })));
      const total = units.reduce((a, b) => a + b, 0);
      // A sliding minute never sees more than the limit ...
      expect(mostInWindow(starts, units, 60_000)).toBeLessThanOrEqual(6_000);
      // ... and a moving average (Google's older "250 units per second, short bursts allowed")
      // sees at most the headroom on top of the per-second pace.
      expect(mostInWindow(starts, units, 1_000)).toBeLessThanOrEqual(100 + headroom(6_000));
      expect(mostInWindow(starts, units, 10_000)).toBeLessThanOrEqual(1_000 + headroom(6_000));
      // The whole run: the limit's pace (100 units/s) allows it in `total / 100` seconds.
      const took = Math.max(...starts) - t0;
      expect(took).toBeLessThanOrEqual(((total - headroom(6_000)) / 100) * 1_000 * 1.05);
    });

    it("starts calls in the order they asked (FIFO), a cheap call never overtaking a dear one", async () => {
      const calls = Array.from({ length: 60 }, (_, i) => ({ units: i % 3 === 0 ? 100 : 1, buckets: [user("a@x", 600)] }));
      const starts = await simulate(calls);
      for (let i = 1; i < starts.length; i++) expect(starts[i]).toBeGreaterThanOrEqual(starts[i - 1]);
      expect(starts.at(-1)!).toBeGreaterThan(starts[0]);
    });

    it("lets a call dearer than the headroom through", async () => {
      const t0 = clock.now();
      expect(headroom(150)).toBe(75);
      const starts = await simulate([{ units: 100, buckets: [user("a@x", 150)] }, { units: 100, buckets: [user("a@x", 150)] }]);
      expect(starts[0]).toBe(t0);
      expect(starts[1]).toBeGreaterThan(t0 + 60_000); // 100 units at 75 units/61 s
    });

    it("gives an aborted waiter's units back and rejects it with the signal's reason", async () => {
      const b = [user("a@x", 600)];
      await simulate([{ units: 100, buckets: b }]); // the headroom spent
      const ac = new AbortController();
      const aborted = budget.take("ic", b, 100, { signal: ac.signal });
      aborted.catch(() => {});
      await until(() => clock.sleeping === 1);
      const reason = new Error("run cancelled");
      ac.abort(reason);
      await expect(aborted).rejects.toBe(reason);
      // The next call waits as long as the aborted one would have, not twice as long.
      const t1 = clock.now();
      const [start] = await simulate([{ units: 100, buckets: b }]);
      const pace = 100 / ((600 - headroom(600)) / 61_000);
      expect(start - t1).toBeLessThan(pace * 1.01);
      expect(start - t1).toBeGreaterThan(pace * 0.5);
    });

    it("keeps budgets apart: another user of the iClient, or another iClient, does not wait for a busy one", async () => {
      await simulate(Array.from({ length: 40 }, () => ({ units: 100, buckets: [user("busy@x", 600)] })));
      const t1 = clock.now();
      const [other, otherClient] = await simulate([
        { units: 100, buckets: [user("idle@x", 600)] },
        { units: 100, buckets: [user("busy@x", 600)], scope: "other-ic" },
      ]);
      expect(other).toBe(t1);
      expect(otherClient).toBe(t1);
    });

    it("holds every user of an iClient to the project budget together", async () => {
      const t0 = clock.now();
      const calls = Array.from({ length: 300 }, (_, i) => ({ units: 5, buckets: [user(`u${i % 5}@x`), project(1_200)] }));
      const starts = await simulate(calls);
      expect(mostInWindow(starts, calls.map((c) => c.units), 60_000)).toBeLessThanOrEqual(1_200);
      // 1,500 units at the project's 1,200 a minute: paced by the project, not by any user.
      expect(Math.max(...starts) - t0).toBeGreaterThan(60_000);
    });

    it("after a refusal pauses the bucket, halves its pace and grows it back", async () => {
      const b = [user("a@x", 6_000)];
      const t0 = clock.now();
      // Refusals in a burst are one congestion event: the pace is halved once, not thrice.
      await budget.shrink("ic", b, 5_000);
      await budget.shrink("ic", b, 5_000);
      await budget.shrink("ic", b, 5_000);
      const [first] = await simulate([{ units: 5, buckets: b }]);
      expect(first - t0).toBeGreaterThanOrEqual(5_000);
      // Over the next minute about half the pace, then it has grown back (within two minutes).
      const t1 = clock.now();
      // Ten at a time, as a pool would wait: each reservation sees the pace of its moment.
      const starts = await simulate(Array.from({ length: 2_000 }, () => ({ units: 10, buckets: b })), 10);
      const units = starts.map(() => 10);
      const inFirstMinute = starts.filter((t) => t < t1 + 60_000).length * 10;
      expect(inFirstMinute).toBeLessThan(6_000 * 0.8);
      expect(inFirstMinute).toBeGreaterThan(6_000 * 0.4);
      const late = starts.filter((t) => t >= t1 + 70_000 && t < t1 + 130_000).length * 10;
      expect(late).toBeGreaterThan(6_000 * 0.9);
      expect(mostInWindow(starts, units, 60_000)).toBeLessThanOrEqual(6_000);
    });

    it("counts a day's units per scope up to the limit, across days and scopes apart", async () => {
      expect(await budget.spendDaily("ic", "2026-12-03", 40, 100)).toEqual({ total: 40, counted: true });
      expect(await budget.spendDaily("ic", "2026-12-03", 60, 100)).toEqual({ total: 100, counted: true });
      // Past the limit nothing is counted.
      expect(await budget.spendDaily("ic", "2026-12-03", 1, 100)).toEqual({ total: 100, counted: false });
      expect(await budget.dailyTotal("ic", "2026-12-03")).toBe(100);
      expect(await budget.spendDaily("other-ic", "2026-12-03", 5, 100)).toEqual({ total: 5, counted: true });
      expect(await budget.spendDaily("ic", "2026-12-04", 5, 100)).toEqual({ total: 5, counted: true });
      // No limit (billed usage allowed): always counted.
      expect(await budget.spendDaily("ic", "2026-12-04", 500, Infinity)).toEqual({ total: 505, counted: true });
    });

    it("counts concurrent spenders exactly, never past the limit", async () => {
      const results = await Promise.all(Array.from({ length: 50 }, () => budget.spendDaily("ic", "2026-12-03", 5, 100)));
      expect(results.filter((r) => r.counted)).toHaveLength(20);
      expect(await budget.dailyTotal("ic", "2026-12-03")).toBe(100);
    });

    it("rejects waiters with BudgetClosedError when closed", async () => {
      const b = [user("a@x", 600)];
      await simulate([{ units: 100, buckets: b }]);
      const waiting = budget.take("ic", b, 100);
      waiting.catch(() => {});
      await until(() => clock.sleeping === 1);
      await budget.close();
      await expect(waiting).rejects.toBeInstanceOf(BudgetClosedError);
      await expect(budget.take("ic", b, 1)).rejects.toBeInstanceOf(BudgetClosedError);
    });
  });
}
