/**
 * How long Google asked us to wait: the `Retry-After` header (already in the error), or the
 * `Retry after <RFC 3339 time>` Google's quota messages carry (GOOGLE.md "Project quota").
 */
import type { RateLimitedError } from "../../connector/errors.ts";

/** A wait longer than this in a message is not believed (a clock far off, or a daily limit). */
const MAX_BELIEVED_MS = 15 * 60 * 1000;

export function retryAfterMs(err: RateLimitedError, now: number): number | undefined {
  if (err.retryAfterMs !== undefined) return err.retryAfterMs;
  const message: unknown = (err.cause as any)?.response?.data?.error?.message;
  const m = typeof message === "string" ? /Retry after (\S+?)\.?(?:\s|$)/i.exec(message) : null;
  if (!m) return undefined;
  const at = Date.parse(m[1]);
  if (!Number.isFinite(at)) return undefined;
  return Math.min(MAX_BELIEVED_MS, Math.max(0, at - now));
}
