/** `pausedUntil`: the daily units spent pause a run until the next UTC day, found along the cause chain; nothing else does. */
import { describe, expect, it } from "vitest";
import { GoogleApiError, RateLimitedError } from "../../connector/errors.ts";
import { failureKind, pausedUntil, RunInterruptedError } from "../../server/flows/failure-kind.ts";
import { DailyQuotaReachedError, nextUtcDay } from "../../server/quota/index.ts";

describe("pausedUntil", () => {
  const at = Date.UTC(2026, 11, 3, 23, 59, 59, 500);
  const daily = new DailyQuotaReachedError("icl_1", 80_000_000, nextUtcDay(at));

  it("gives the next UTC midnight for daily_quota_reached, also wrapped as a run's interruption", () => {
    expect(nextUtcDay(at).toISOString()).toBe("2026-12-04T00:00:00.000Z");
    expect(pausedUntil(daily)).toEqual(new Date("2026-12-04T00:00:00.000Z"));
    const interrupted = new RunInterruptedError("3 records met a transient failure", { cause: daily });
    expect(pausedUntil(interrupted)).toEqual(daily.resumeAt);
    // Transient for the records meanwhile: left for later, never failed.
    expect(failureKind(daily)).toBe("transient");
    expect(failureKind(interrupted)).toBe("transient");
  });

  it("is undefined for every other failure, rate limits and dailyLimitExceeded included", () => {
    expect(pausedUntil(new RateLimitedError(1_000))).toBeUndefined();
    expect(pausedUntil(new GoogleApiError(403, "dailyLimitExceeded", "Daily Limit Exceeded"))).toBeUndefined();
    expect(pausedUntil(new RunInterruptedError("x", { cause: new GoogleApiError(503, "backendError", "x") }))).toBeUndefined();
    expect(pausedUntil(undefined)).toBeUndefined();
  });
});
