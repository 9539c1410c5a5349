/**
 * What counts as transient, on errors as the real Gmail client throws them: a connection reset by
 * a real socket, Google's 5xx (mapped), not a 4xx; and how long a rate limit asks us to wait.
 */
import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gmailClient } from "../../connector/gmail-client.ts";
import { GoogleApiError, RateLimitedError, toConnectorError } from "../../connector/errors.ts";
import { transientCause } from "../../server/quota/transient.ts";
import { retryAfterMs } from "../../server/quota/retry-after.ts";

describe("transient errors", () => {
  let server: Server;
  let port: number;
  beforeAll(async () => {
    // Accepts, then resets every connection: what a dropped connection looks like to the client.
    server = createServer((socket) => socket.resetAndDestroy());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("a connection reset under the Gmail client is transient (network), and no Google error", async () => {
    const err = await gmailClient("token")
      .users.getProfile({ userId: "me" }, { rootUrl: `http://127.0.0.1:${port}/` })
      .catch((e: unknown) => e);
    expect(toConnectorError(err)).toBeUndefined();
    expect(transientCause(err)).toBe("network");
  });

  it("Google's 500/502/503/504 and 408 are transient, other answers are not", () => {
    for (const status of [500, 502, 503, 504, 408]) expect(transientCause(new GoogleApiError(status, "backendError", "x"))).toBe("5xx");
    for (const status of [400, 403, 404, 409]) expect(transientCause(new GoogleApiError(status, "x", "x"))).toBeNull();
    expect(transientCause(new Error("a bug"))).toBeNull();
  });

  it("waits what Retry-After says, else the time in Google's 'Retry after' message", () => {
    const now = Date.UTC(2026, 11, 3, 12);
    expect(retryAfterMs(new RateLimitedError(7_000), now)).toBe(7_000);
    const google = { response: { status: 429, data: { error: { code: 429, message: "User-rate limit exceeded.  Retry after 2026-12-03T12:00:30.000Z" } } } };
    expect(retryAfterMs(new RateLimitedError(undefined, { cause: google }), now)).toBe(30_000);
    expect(retryAfterMs(new RateLimitedError(undefined, { cause: { response: { data: { error: { message: "Rate Limit Exceeded" } } } } }), now)).toBeUndefined();
  });
});
