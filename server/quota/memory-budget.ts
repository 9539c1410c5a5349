import {
  abortReason,
  closingController,
  assertBuckets,
  BudgetClosedError,
  factorAt,
  reserve,
  shrinkState,
  systemClock,
  type BucketRef,
  type BucketState,
  type DailySpend,
  type QuotaBudget,
  type QuotaClock,
  type TakeOptions,
} from "./budget.ts";

/** Idle buckets (paid up, pace recovered) are dropped every this many calls. */
const SWEEP_EVERY = 1_000;

/** Single-process budget: the same contract as {@link RedisBudget}, inside one process. */
export class MemoryBudget implements QuotaBudget {
  readonly #clock: QuotaClock;
  readonly #buckets = new Map<string, BucketState>();
  /** `scope NUL day` → units counted that day. */
  readonly #days = new Map<string, number>();
  readonly #closing = closingController();
  #calls = 0;

  constructor(opts: { clock?: QuotaClock } = {}) {
    this.#clock = opts.clock ?? systemClock;
  }

  async take(scope: string, buckets: readonly BucketRef[], units: number, opts: TakeOptions = {}): Promise<number> {
    assertBuckets(buckets, units);
    if (this.#closing.signal.aborted) throw new BudgetClosedError();
    if (opts.signal?.aborted) throw abortReason(opts.signal);
    const now = this.#clock.now();
    if (++this.#calls % SWEEP_EVERY === 0) this.#sweep(now);
    const states = buckets.map((b) => this.#state(scope, b, now));
    const { start, costs } = reserve(states, buckets, units, now);
    const wait = start - now;
    if (wait <= 0) return 0;
    const signal = opts.signal ? AbortSignal.any([opts.signal, this.#closing.signal]) : this.#closing.signal;
    try {
      await this.#clock.sleep(wait, signal);
    } catch (err) {
      // Give the reservation back: the units were never spent.
      states.forEach((s, i) => (s.tat -= costs[i]));
      throw this.#closing.signal.aborted ? new BudgetClosedError() : err;
    }
    return wait;
  }

  async shrink(scope: string, buckets: readonly BucketRef[], pauseMs: number): Promise<void> {
    if (this.#closing.signal.aborted) throw new BudgetClosedError();
    const now = this.#clock.now();
    for (const b of buckets) shrinkState(this.#state(scope, b, now), b, pauseMs, now);
  }

  async spendDaily(scope: string, day: string, units: number, limit: number): Promise<DailySpend> {
    if (this.#closing.signal.aborted) throw new BudgetClosedError();
    const id = `${scope}\u0000${day}`;
    const total = this.#days.get(id) ?? 0;
    if (total + units > limit) return { total, counted: false };
    // One day's totals kept per scope: a new day drops the old ones.
    if (!this.#days.has(id)) for (const key of this.#days.keys()) if (!key.endsWith(`\u0000${day}`)) this.#days.delete(key);
    this.#days.set(id, total + units);
    return { total: total + units, counted: true };
  }

  async dailyTotal(scope: string, day: string): Promise<number> {
    return this.#days.get(`${scope}\u0000${day}`) ?? 0;
  }

  async close(): Promise<void> {
    this.#closing.abort();
    this.#buckets.clear();
  }

  #state(scope: string, b: BucketRef, now: number): BucketState {
    const id = `${scope}\u0000${b.key}`;
    let s = this.#buckets.get(id);
    if (!s) {
      s = { tat: now, f: 1, ft: now };
      this.#buckets.set(id, s);
    }
    return s;
  }

  #sweep(now: number): void {
    for (const [id, s] of this.#buckets) if (s.tat < now && factorAt(s, now) === 1) this.#buckets.delete(id);
  }
}
