/**
 * Whose limit a Gmail rate-limit refusal speaks of (GOOGLE.md "Quota"): the Gmail user's per-user
 * limit (`userRateLimitExceeded`, or a 429 `rateLimitExceeded` whose message says "User-rate limit
 * exceeded"), or the project's, i.e. the iClient's, per-minute limit (`rateLimitExceeded` with any
 * other message, such as "Rate Limit Exceeded" or "Quota exceeded for quota metric 'Queries' and
 * limit 'Queries per minute'"). A refusal with no reason is taken as the user's: the narrower
 * budget to shrink.
 */
import type { RateLimitedError } from "../../connector/errors.ts";

export type RateLimitScope = "user" | "project";

export function rateLimitScope(err: RateLimitedError): RateLimitScope {
  const body: unknown = (err.cause as { response?: { data?: unknown } } | undefined)?.response?.data;
  const error = (body as { error?: { message?: unknown; errors?: Array<{ reason?: unknown; message?: unknown }> } } | undefined)?.error;
  if (!error || typeof error !== "object") return "user";
  const reasons = (Array.isArray(error.errors) ? error.errors : []).map((e) => e?.reason);
  if (reasons.includes("userRateLimitExceeded")) return "user";
  if (!reasons.includes("rateLimitExceeded")) return "user";
  const message = typeof error.message === "string" ? error.message : "";
  return /user[- ]rate/i.test(message) ? "user" : "project";
}
