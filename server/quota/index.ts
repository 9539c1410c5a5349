export {
  BudgetClosedError,
  systemClock,
  headroom,
  paceOf,
  type BucketRef,
  type DailySpend,
  utcDay,
  type QuotaBudget,
  type QuotaClock,
  type TakeOptions,
} from "./budget.ts";
export { MemoryBudget } from "./memory-budget.ts";
export { RedisBudget, DEFAULT_QUOTA_PREFIX, type RedisBudgetOptions } from "./redis-budget.ts";
export { transientCause, TRANSIENT_STATUSES } from "./transient.ts";
export { DailyQuotaReachedError, DAILY_WARNING_SHARE, nextUtcDay } from "./daily.ts";
