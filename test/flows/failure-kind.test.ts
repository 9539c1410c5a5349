/** The one classification of run errors: what makes a run retried, and what fails a record or a run. */
import { describe, expect, it } from "vitest";
import { GoogleApiError, MissingScopeError, RateLimitedError, TokenRevokedError, toConnectorError } from "../../connector/errors.ts";
import { ApiError } from "../../core/errors.ts";
import { ConnectionUnavailableError } from "../../server/oauth/connection-errors.ts";
import { GateClosedError } from "../../server/pools/index.ts";
import { failureKind, LeaseLostError, RunLeasedError } from "../../server/flows/failure-kind.ts";

const google = (status: number, reason?: string) => toConnectorError({ response: { status, data: { error: { message: "x", errors: reason ? [{ reason }] : [] } } } });
const sys = (code: string) => Object.assign(new Error(code), { code });

describe("failureKind", () => {
  it.each([
    ["Google 500", google(500)],
    ["Google 502", google(502)],
    ["Google 503", google(503)],
    ["Google 504", google(504)],
    ["Google 408", google(408)],
    ["a rate limit the pool's retries outlasted", new RateLimitedError(undefined)],
    ["a reset connection", sys("ECONNRESET")],
    ["a refused connection", sys("ECONNREFUSED")],
    ["a timeout", sys("ETIMEDOUT")],
    ["undici's socket error, as fetch's cause", new TypeError("fetch failed", { cause: sys("UND_ERR_SOCKET") })],
    ["PostgreSQL shutting down (57P01)", sys("57P01")],
    ["a PostgreSQL connection failure (08006)", sys("08006")],
    ["too many PostgreSQL connections (53300)", sys("53300")],
    ["a closed pool gate", new GateClosedError()],
    ["an aborted wait", Object.assign(new Error("aborted"), { name: "AbortError" })],
    ["a lost run lease", new LeaseLostError("run_1")],
    ["a run leased elsewhere", new RunLeasedError("run_1")],
    ["a driver error without a code", new Error("Connection terminated unexpectedly")],
    ["a busy file (a Node code, not a SQLSTATE)", sys("EBUSY")],
  ])("%s is transient", (_what, err) => {
    expect(failureKind(err)).toBe("transient");
  });

  it.each([
    ["a revoked token", new TokenRevokedError()],
    ["a missing scope", new MissingScopeError("messages.send", ["https://www.googleapis.com/auth/gmail.send"])],
    ["an offline connection", new ConnectionUnavailableError("offline", null)],
    ["Google 400", google(400)],
    ["Google 403 forbidden", google(403, "forbidden")],
    ["Google 404", google(404)],
    ["Google's daily limit", new GoogleApiError(403, "dailyLimitExceeded", "x")],
    ["our 404", new ApiError("not_found")],
    ["a unique violation (23505)", sys("23505")],
    ["a missing table (42P01)", sys("42P01")],
  ])("%s is permanent", (_what, err) => {
    expect(failureKind(err)).toBe("permanent");
  });

  it("classifies Google's 429 and 403 rateLimitExceeded as rate limits (transient)", () => {
    expect(google(429)).toBeInstanceOf(RateLimitedError);
    expect(failureKind(google(403, "rateLimitExceeded"))).toBe("transient");
  });
});
