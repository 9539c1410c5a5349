import { Redis, type RedisOptions } from "ioredis";
import {
  abortReason,
  closingController,
  assertBuckets,
  BudgetClosedError,
  systemClock,
  type BucketRef,
  type DailySpend,
  type QuotaBudget,
  type QuotaClock,
  type TakeOptions,
} from "./budget.ts";
import { SCRIPTS, type QuotaScriptName } from "./redis-scripts.ts";

export interface RedisBudgetOptions {
  /** A `redis://` URL or ioredis options; the budget opens one connection of its own. */
  redis: RedisOptions | string;
  /** @defaultValue `"mailbridge:quota"`; every process of a cluster must use the same. */
  prefix?: string;
  /**
   * The clock reservations are made on and waited out with. By default Redis's own clock decides
   * (processes need not agree on the time) and waits are real timers.
   */
  clock?: QuotaClock;
}

export const DEFAULT_QUOTA_PREFIX = "mailbridge:quota";

type ScriptRedis = Redis & Record<QuotaScriptName, (numKeys: number, ...keysAndArgs: (string | number)[]) => Promise<string[] | number | number[]>>;

/**
 * Queue-mode budget: buckets live in Redis, so every process of the cluster spends one budget.
 * A reservation is one script call (one round trip); the caller then sleeps in its own process
 * until its start, so waiting costs Redis nothing. If Redis loses the buckets (a restart) they
 * come back full: at worst one headroom's burst.
 */
export class RedisBudget implements QuotaBudget {
  readonly #cmd: ScriptRedis;
  readonly #prefix: string;
  readonly #clock?: QuotaClock;
  readonly #closing = closingController();

  constructor(opts: RedisBudgetOptions) {
    this.#prefix = opts.prefix ?? DEFAULT_QUOTA_PREFIX;
    this.#clock = opts.clock;
    const base: RedisOptions = { connectionName: `${this.#prefix}:budget` };
    this.#cmd = (typeof opts.redis === "string" ? new Redis(opts.redis, base) : new Redis({ ...base, ...opts.redis })) as ScriptRedis;
    this.#cmd.on("error", () => {}); // surfaces as rejected commands
    for (const [name, lua] of Object.entries(SCRIPTS)) this.#cmd.defineCommand(name, { lua });
  }

  async take(scope: string, buckets: readonly BucketRef[], units: number, opts: TakeOptions = {}): Promise<number> {
    assertBuckets(buckets, units);
    if (this.#closing.signal.aborted) throw new BudgetClosedError();
    if (opts.signal?.aborted) throw abortReason(opts.signal);
    if (buckets.length === 0) return 0;
    const keys = this.#keys(scope, buckets);
    const reply = (await this.#cmd.quotaTake(keys.length, ...keys, this.#now(), units, ...buckets.map((b) => b.unitsPerMinute))) as string[];
    const wait = Number(reply[0]);
    if (wait <= 0) return 0;
    const signal = opts.signal ? AbortSignal.any([opts.signal, this.#closing.signal]) : this.#closing.signal;
    try {
      await (this.#clock ?? systemClock).sleep(wait, signal);
    } catch (err) {
      // Give the reservation back (best effort: a lost refund only delays later calls a little).
      if (!this.#closing.signal.aborted) await this.#cmd.quotaRefund(keys.length, ...keys, this.#now(), ...reply.slice(2)).catch(() => {});
      throw this.#closing.signal.aborted ? new BudgetClosedError() : err;
    }
    return wait;
  }

  async shrink(scope: string, buckets: readonly BucketRef[], pauseMs: number): Promise<void> {
    if (this.#closing.signal.aborted) throw new BudgetClosedError();
    if (buckets.length === 0) return;
    const keys = this.#keys(scope, buckets);
    await this.#cmd.quotaShrink(keys.length, ...keys, this.#now(), Math.max(0, pauseMs), ...buckets.map((b) => b.unitsPerMinute));
  }

  async spendDaily(scope: string, day: string, units: number, limit: number): Promise<DailySpend> {
    if (this.#closing.signal.aborted) throw new BudgetClosedError();
    const [total, counted] = (await this.#cmd.quotaDaily(1, this.#dayKey(scope, day), units, Number.isFinite(limit) ? limit : -1)) as unknown as [number, number];
    return { total: Number(total), counted: counted === 1 };
  }

  async dailyTotal(scope: string, day: string): Promise<number> {
    return Number((await this.#cmd.get(this.#dayKey(scope, day))) ?? 0);
  }

  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    this.#closing.abort();
    await this.#cmd.quit().catch(() => {});
  }

  #now(): string {
    return this.#clock ? String(this.#clock.now()) : "";
  }

  #dayKey(scope: string, day: string): string {
    return `${this.#prefix}:{${scope}}:day:${day}`;
  }

  /** The scope is the hash tag: one call's buckets live in one cluster slot. */
  #keys(scope: string, buckets: readonly BucketRef[]): string[] {
    return buckets.map((b) => `${this.#prefix}:{${scope}}:${b.key}`);
  }
}
