/**
 * The one classification of what can go wrong during a run: transient (worth
 * retrying the run later: Google 5xx, a rate limit that outlasted the pool's
 * retries, a reset or timed-out connection, PostgreSQL or Redis unreachable)
 * or permanent (retrying cannot help: a revoked token, a missing scope, an
 * offline connection, any other Google 4xx). Only a permanent error fails a
 * record or a run; a transient one makes the run retried from its deliveries
 * ledger.
 *
 * The iClient's daily units spent (`daily_quota_reached`) is transient too, but the run is not
 * retried with backoff: it pauses until the next UTC day ({@link pausedUntil}, server/quota/run-pause.ts).
 *
 * A PostgreSQL error is transient only when its SQLSTATE says the server is
 * away or busy. An error nothing here knows is treated as transient: the run is retried with
 * backoff and, once its attempts are spent, fails with `internal_error`. That
 * keeps a driver error without a code (pg's "Connection terminated
 * unexpectedly", ioredis's "Connection is closed.") from failing a record.
 */
import { ConnectorError } from "../../connector/errors.ts";
import { ApiError } from "../../core/errors.ts";
import { ConnectionUnavailableError } from "../oauth/connection-errors.ts";
import { transientCause } from "../quota/transient.ts";
import { DailyQuotaReachedError } from "../quota/daily.ts";

export type FailureKind = "transient" | "permanent";

/** Node and undici network error codes (of PostgreSQL and Redis connections too, not only Google's). */
const NETWORK_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "ERR_STREAM_PREMATURE_CLOSE",
]);

/**
 * PostgreSQL SQLSTATEs of a server that is away or busy, not of a wrong statement:
 * class 08 (connection exception), 53 (insufficient resources), 57P01–57P03
 * (shutdown, crash, cannot connect now), 40001 and 40P01 (serialization failure, deadlock).
 * https://www.postgresql.org/docs/current/errcodes-appendix.html
 */
/** A SQLSTATE (no class begins with E, unlike Node's error codes such as EBUSY). */
const SQLSTATE = /^(?!E)[0-9A-Z]{5}$/;
function isTransientSqlState(code: string): boolean {
  return /^(08|53)[0-9A-Z]{3}$/.test(code) || ["57P01", "57P02", "57P03", "40001", "40P01"].includes(code);
}

/** A run error raised by the run level itself, with the kind it is. */
export class RunInterruptedError extends Error {
  readonly code = "run_interrupted";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RunInterruptedError";
  }
}

/** The run attempt's lease expired or was taken over: stop before the next send; the run goes on elsewhere or later. */
export class LeaseLostError extends RunInterruptedError {
  constructor(readonly runId: string) {
    super(`The lease on run ${runId} was lost: another runner may hold it.`);
    this.name = "LeaseLostError";
  }
}

/** Another runner holds a live lease on the run: try again after it expires (or the run finishes). */
export class RunLeasedError extends RunInterruptedError {
  constructor(readonly runId: string) {
    super(`Run ${runId} is leased by another runner.`);
    this.name = "RunLeasedError";
  }
}

/** Classify one error (its `cause` chain is followed for wrapped network and database errors). */
export function failureKind(err: unknown): FailureKind {
  // A Gmail call's failure the choke point retries itself (5xx, 408, a dropped connection) is transient here too.
  if (transientCause(err)) return "transient";
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof RunInterruptedError) return "transient";
    if (e instanceof ConnectionUnavailableError) return "permanent";
    // GoogleApiError: 4xx but 408 (and dailyLimitExceeded) are unrecoverable; 5xx, 408 and rate limits are not.
    if (e instanceof ConnectorError) return e.unrecoverable ? "permanent" : "transient";
    if (e instanceof ApiError) return e.status >= 500 ? "transient" : "permanent";
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && NETWORK_CODES.has(code)) return "transient";
    // Any other SQLSTATE is the statement's fault (a constraint, a bug): running it again cannot help.
    if (typeof code === "string" && SQLSTATE.test(code)) return isTransientSqlState(code) ? "transient" : "permanent";
    const name = (e as { name?: unknown }).name;
    if (name === "AbortError" || name === "TimeoutError" || name === "GateClosedError") return "transient";
  }
  return "transient";
}

export const isPermanent = (err: unknown): boolean => failureKind(err) === "permanent";

/**
 * When the run should go on, if `err` (or what it wraps) is the iClient's daily units spent
 * (`daily_quota_reached`): the run pauses until then (the next UTC day) instead of being retried
 * with backoff. Transient for the records meanwhile (`failureKind`): they are left, never failed.
 */
export function pausedUntil(err: unknown): Date | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof DailyQuotaReachedError) return e.resumeAt;
  }
  return undefined;
}
