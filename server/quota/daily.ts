/**
 * The day's units per iClient against `GMAIL_PROJECT_DAILY_UNITS`, Google's daily billing
 * threshold (GOOGLE.md "Quota"): past it, usage would be charged, so calls stop until the next
 * UTC day.
 */
import { ConnectorError } from "../../connector/errors.ts";

/** Share of the daily units at which a warning is logged (once per iClient and day, cluster-wide). */
export const DAILY_WARNING_SHARE = 0.9;

/** The iClient has spent its day's units: no call until `resumeAt` (the next UTC midnight). */
export class DailyQuotaReachedError extends ConnectorError {
  readonly code = "daily_quota_reached";
  constructor(readonly iClientId: string, readonly limit: number, readonly resumeAt: Date) {
    super(`The iClient has spent its ${limit.toLocaleString("en")} Gmail quota units of today (UTC); calls resume at ${resumeAt.toISOString()}.`);
    this.name = "DailyQuotaReachedError";
  }
}

/** The next UTC midnight after `ms`. */
export function nextUtcDay(ms: number): Date {
  const d = new Date(ms);
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1));
}
