/**
 * Which failures of a Gmail call are transient (GOOGLE.md "Project quota and uploads"): Google's
 * 500/502/503/504 (and 408), and a connection that dropped or timed out. Retried with jittered
 * truncated exponential backoff, except for calls a retry could double (connector NON_IDEMPOTENT).
 */
import { GoogleApiError } from "../../connector/errors.ts";

export const TRANSIENT_STATUSES: ReadonlySet<number> = new Set([408, 500, 502, 503, 504]);

/** Error codes of a connection reset, refused or timed out (Node's net and undici's fetch). */
const NETWORK_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);

/** Why `err` is worth retrying (`"5xx"` or `"network"`), or null when it is not. */
export function transientCause(err: unknown): "5xx" | "network" | null {
  if (err instanceof GoogleApiError) return TRANSIENT_STATUSES.has(err.status) ? "5xx" : null;
  // A dropped connection has no HTTP status: look for its code along the cause chain.
  for (let e: any = err, depth = 0; e && depth < 5; e = e.cause, depth++) {
    if (typeof e.status === "number" || typeof e.response?.status === "number") return null;
    if (typeof e.code === "string" && NETWORK_CODES.has(e.code)) return "network";
    if (e.name === "TimeoutError") return "network";
  }
  return null;
}
