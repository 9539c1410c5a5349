/**
 * What the Gmail choke point reports on `/metrics`: quota units spent and waited for per iClient,
 * calls waiting for quota now, Google's refusals, and retries by cause.
 */
import { Counter, Gauge, type Registry } from "prom-client";

export interface QuotaMetrics {
  units: Counter<"iclient">;
  waitSeconds: Counter<"iclient">;
  waiting: Gauge<"iclient">;
  rateLimited: Counter<"iclient">;
  retries: Counter<"cause">;
  dailyRefused: Counter<"iclient">;
}

export function quotaMetrics(registry: Registry): QuotaMetrics {
  const registers = [registry];
  return {
    units: new Counter({ name: "mailbridge_gmail_quota_units_total", help: "Gmail quota units spent (each attempt), by iClient", labelNames: ["iclient"], registers }),
    waitSeconds: new Counter({ name: "mailbridge_gmail_quota_wait_seconds_total", help: "Time Gmail calls waited for their quota units, by iClient", labelNames: ["iclient"], registers }),
    waiting: new Gauge({ name: "mailbridge_gmail_quota_waiting", help: "Gmail calls waiting for quota units now, by iClient", labelNames: ["iclient"], registers }),
    rateLimited: new Counter({ name: "mailbridge_gmail_rate_limited_total", help: "Gmail calls Google refused with a rate limit (429 or 403 rateLimitExceeded), by iClient", labelNames: ["iclient"], registers }),
    retries: new Counter({ name: "mailbridge_gmail_retries_total", help: "Gmail call retries by cause: rate_limit, 5xx, network", labelNames: ["cause"], registers }),
    dailyRefused: new Counter({ name: "mailbridge_gmail_daily_quota_refused_total", help: "Gmail calls refused because the iClient spent its daily units, by iClient", labelNames: ["iclient"], registers }),
  };
}
