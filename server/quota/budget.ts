/**
 * Quota budgets (SPEC §2 "Quota budget and transient errors"): every Gmail call reserves its
 * units in the budgets it counts against (the Gmail user's and the iClient's) and waits until
 * they fit, instead of drawing a 429 from Google.
 *
 * Two implementations hold one contract (test/quota/budget-contract.ts): {@link MemoryBudget} in
 * single-process mode and {@link RedisBudget} in queue mode (counted across the cluster).
 *
 * The pace (GCRA, a token bucket in "virtual scheduling" form): a bucket of `unitsPerMinute`
 * refills at `(unitsPerMinute - headroom) / 61 s` and holds at most `headroom` units, where the
 * headroom is a fiftieth of the minute but at least the dearest call. So any 60-second window
 * sees at most `headroom + 60/61 * (unitsPerMinute - headroom)` units, under the limit whether
 * Google counts a sliding minute or a moving average (a second of margin absorbs the network's
 * jitter between our clock and Google's), and the pace is ~97 % of the limit at 6,000 units.
 * A reservation is taken at once, in call order (FIFO), and the caller sleeps until its start.
 */
import { setMaxListeners } from "node:events";
import { MAX_UNITS_PER_CALL } from "../../connector/quota-costs.ts";

/** One budget a call counts against. */
export interface BucketRef {
  /** Unique within its scope, e.g. `user:alice@example.com` or `project`. */
  key: string;
  unitsPerMinute: number;
}

export interface TakeOptions {
  /** Aborting gives the reservation back and rejects with `signal.reason`. */
  signal?: AbortSignal;
}

export interface QuotaBudget {
  /**
   * Reserve `units` in every bucket of `scope` (all at once) and wait until they fit.
   * Resolves with the milliseconds waited (0 when the units fit at once).
   *
   * @param scope - the buckets' group (the iClient): one Redis hash slot.
   */
  take(scope: string, buckets: readonly BucketRef[], units: number, opts?: TakeOptions): Promise<number>;
  /**
   * Google refused anyway (a 429: someone else spends the same quota): halve these buckets'
   * pace, which grows back additively (to full within {@link RECOVERY_MS}), and let nothing
   * through them for `pauseMs`.
   */
  shrink(scope: string, buckets: readonly BucketRef[], pauseMs: number): Promise<void>;
  /**
   * Count `units` against `scope`'s total of `day` (a UTC date, `YYYY-MM-DD`) if the total stays
   * within `limit`; atomic across the cluster. Returns the day's total afterwards and whether the
   * units were counted (false: the limit would be passed, nothing counted).
   */
  spendDaily(scope: string, day: string, units: number, limit: number): Promise<DailySpend>;
  /** `scope`'s total of `day` so far. */
  dailyTotal(scope: string, day: string): Promise<number>;
  /** Reject every waiter with {@link BudgetClosedError} and free resources. */
  close(): Promise<void>;
}

export interface DailySpend {
  total: number;
  counted: boolean;
}

/** The UTC day of `ms`, as budgets key the daily totals. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** The clock budgets pace by; tests inject a fake one. */
export interface QuotaClock {
  now(): number;
  /** Resolve after `ms`; reject with the signal's reason when it aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: QuotaClock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(abortReason(signal));
      const onAbort = () => {
        clearTimeout(timer);
        reject(abortReason(signal!));
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      signal?.addEventListener("abort", onAbort, { once: true });
    }),
};

export class BudgetClosedError extends Error {
  override name = "BudgetClosedError";
  constructor() {
    super("the quota budget is closed");
  }
}

/**
 * A budget's closing signal: every call waiting for its turn listens to it (and stops listening
 * when its wait ends), so any number may at once (Node warns of a leak past 10 by default).
 */
export function closingController(): AbortController {
  const c = new AbortController();
  setMaxListeners(0, c.signal);
  return c;
}

export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("This operation was aborted", "AbortError");
}

/** The pace's margin over a minute: a second for the jitter between our clock and Google's. */
export const PACE_WINDOW_MS = 61_000;
/** A halved pace grows back by this share of the full pace per millisecond. */
export const RECOVERY_MS = 120_000;
/** A pace never shrinks below this share of the full one. */
export const MIN_FACTOR = 0.05;
/** Refusals within this long of the last halving are one congestion event: halved once (as TCP does per round trip). */
export const SHRINK_INTERVAL_MS = 5_000;

/** Units a bucket may spend at once: a fiftieth of the minute, at least the dearest call, at most half the minute. */
export function headroom(unitsPerMinute: number): number {
  return Math.min(Math.max(unitsPerMinute / 50, MAX_UNITS_PER_CALL), unitsPerMinute / 2);
}

/** Units per millisecond at full pace. */
export function paceOf(unitsPerMinute: number): number {
  return (unitsPerMinute - headroom(unitsPerMinute)) / PACE_WINDOW_MS;
}

/** A bucket's state: when it is paid up (`tat`), its shrunk pace `f` as of `ft`, its last halving `st`. */
export interface BucketState {
  tat: number;
  f: number;
  ft: number;
  st?: number;
}

/** The pace factor now: `f` grown back additively since `ft`. */
export function factorAt(s: BucketState, now: number): number {
  return Math.min(1, s.f + Math.max(0, now - s.ft) / RECOVERY_MS);
}

export function assertBuckets(buckets: readonly BucketRef[], units: number): void {
  if (!(units >= 0) || !Number.isFinite(units)) throw new RangeError(`units must be a number >= 0, got ${units}`);
  for (const b of buckets) {
    if (!(b.unitsPerMinute > 0) || !Number.isFinite(b.unitsPerMinute)) {
      throw new RangeError(`unitsPerMinute must be > 0, got ${b.unitsPerMinute}`);
    }
  }
}

/**
 * Reserve `units` in every bucket (mutating `states`): the start is the earliest time at which
 * every bucket has room. Returns the start and each bucket's cost in time (to give back on abort).
 * The Lua script of RedisBudget is this same function.
 */
export function reserve(states: BucketState[], buckets: readonly BucketRef[], units: number, now: number): { start: number; costs: number[] } {
  let start = now;
  const costs = buckets.map((b, i) => {
    const rate = paceOf(b.unitsPerMinute) * factorAt(states[i], now);
    const cost = units / rate;
    const tolerance = Math.max(headroom(b.unitsPerMinute) / rate, cost);
    start = Math.max(start, states[i].tat + cost - tolerance);
    return cost;
  });
  // Floating-point dust (timestamps are ~1.7e12 ms) must not turn "fits now" into a wait.
  if (start - now < 1) start = now;
  states.forEach((s, i) => {
    s.tat = Math.max(s.tat, start) + costs[i];
  });
  return { start, costs };
}

/** Halve the pace of a bucket (once per {@link SHRINK_INTERVAL_MS}) and keep it empty until `now + pauseMs`. */
export function shrinkState(s: BucketState, b: BucketRef, pauseMs: number, now: number): void {
  if (s.st === undefined || now - s.st >= SHRINK_INTERVAL_MS) {
    s.f = Math.max(MIN_FACTOR, factorAt(s, now) / 2);
    s.ft = now;
    s.st = now;
  }
  const rate = paceOf(b.unitsPerMinute) * s.f;
  s.tat = Math.max(s.tat, now + Math.max(0, pauseMs) + headroom(b.unitsPerMinute) / rate);
}
