/**
 * Whose budget a 429 shrinks (GOOGLE.md "Quota"): Google's per-user refusal ("User-rate limit
 * exceeded") shrinks only that Gmail user's budget; a refusal of the project's per-minute limit
 * (`rateLimitExceeded`, "Quota exceeded for quota metric 'Queries' and limit 'Queries per
 * minute'...") shrinks the iClient's, so another user of the same iClient waits too. Google is the
 * emulator behind a small HTTP front that answers the first Gmail call with the refusal chosen;
 * the budgets run on a fake clock, so "waits" is a caller asleep on it, not a timing.
 */
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, startTestApp, type TestApp } from "../support/app.ts";
import { authorizeConnection, startGoogle, type TestGoogle } from "../support/google.ts";
import { MemoryBudget } from "../../server/quota/index.ts";
import { FakeClock } from "./fake-clock.ts";

const PUBLIC_URL = "http://mailbridge.test";
const READONLY = "https://www.googleapis.com/auth/gmail.readonly";

const USER_REFUSAL = {
  error: { code: 429, message: "User-rate limit exceeded", errors: [{ message: "User-rate limit exceeded", domain: "usageLimits", reason: "rateLimitExceeded" }], status: "RESOURCE_EXHAUSTED" },
};
const PROJECT_REFUSAL = {
  error: {
    code: 429,
    message: "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of service 'gmail.googleapis.com' for consumer 'project_number:1234'.",
    errors: [{ message: "Rate Limit Exceeded", domain: "usageLimits", reason: "rateLimitExceeded" }],
    status: "RESOURCE_EXHAUSTED",
  },
};

describe("a 429 shrinks the budget Google names", () => {
  let google: TestGoogle;
  let front: Server;
  let t: TestApp;
  const clock = new FakeClock();
  const budget = new MemoryBudget({ clock });
  /** The next Gmail call gets this answer instead of reaching the emulator. */
  let refuseNext: unknown;
  let refused = 0;
  let calls: Array<(signal?: AbortSignal) => Promise<unknown>> = [];
  let users: string[] = [];

  beforeAll(async () => {
    google = await startGoogle();
    const upstream = new URL(google.env.GMAIL_API_URL);
    front = createServer((req, res) => {
      if (refuseNext && req.url?.includes("/gmail/v1/")) {
        const body = JSON.stringify(refuseNext);
        refuseNext = undefined;
        refused += 1;
        req.resume();
        res.writeHead(429, { "content-type": "application/json; charset=UTF-8", "retry-after": "1" }).end(body);
        return;
      }
      const out = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      out.on("error", () => res.destroy());
      req.pipe(out);
    });
    await new Promise<void>((resolve) => front.listen(0, "127.0.0.1", resolve));
    const frontUrl = `http://127.0.0.1:${(front.address() as AddressInfo).port}/`;
    t = await startTestApp({
      env: { PUBLIC_URL, ...google.env, GMAIL_API_URL: frontUrl, GMAIL_USER_QUOTA_UNITS_PER_MINUTE: "6000", GMAIL_PROJECT_QUOTA_UNITS_PER_MINUTE: "1200000" },
      deps: { budget, quotaClock: clock, backoff: { baseMs: 10, maxMs: 20 } },
    });
    const client = await google.newClient([`${PUBLIC_URL}/oauth2/callback`]);
    const a = api(t.app, t.adminToken);
    const ic = (await a.post("/v1/iclients", { name: "ic", application: "gmail", ...client })).json();
    const accountId = (await a.get("/v1/me")).json().id;
    for (const name of ["one", "two"]) {
      const email = await google.newUser();
      const id = (await a.post("/v1/connections", { name, application: "gmail", scopes: [READONLY], iClientId: ic.id })).json().id;
      expect((await authorizeConnection(t.app, t.adminToken, id, { email })).statusCode).toBe(200);
      users.push(email);
      calls.push((signal) => t.app.gmail.run(accountId, id, "messages.list", (g, options) => g.users.messages.list({ userId: "me", maxResults: 1 }, options), { signal }));
    }
  });
  afterAll(async () => {
    await t?.close();
    await budget.close();
    await new Promise((resolve) => front?.close(resolve));
    await google?.close();
  });

  const requests = async (email: string) => ((await google.admin("GET", "/stats")).users[email]?.requests ?? 0) as number;
  /** Wait (on events, not time) until `n` callers sleep on the budget's clock. */
  const sleeping = (n: number) => expect.poll(() => clock.sleeping, { timeout: 20_000, interval: 10 }).toBe(n);

  it("a per-user refusal: that user's retry waits, another user of the iClient goes straight on", async () => {
    refuseNext = USER_REFUSAL;
    const first = calls[0]();
    await sleeping(1);
    expect(refused).toBe(1);
    const before = await requests(users[1]);
    await calls[1](); // not delayed: a clock that never moves would hold it otherwise
    expect(await requests(users[1])).toBe(before + 1);
    expect(clock.sleeping).toBe(1);
    while (clock.sleeping > 0) await clock.next();
    await first;
    expect(t.logs.join("")).toContain('"limit":"user"');
  });

  it("a project refusal: the iClient's budget shrinks, so another user of the iClient waits too", async () => {
    await clock.advance(10 * 60_000); // both budgets grown back to full
    refuseNext = PROJECT_REFUSAL;
    const first = calls[0]();
    await sleeping(1);
    expect(refused).toBe(2);
    const before = await requests(users[1]);
    const second = calls[1]();
    await sleeping(2); // user two waits for the iClient's budget, though its own is untouched
    expect(await requests(users[1])).toBe(before);
    while (clock.sleeping > 0) await clock.next();
    await Promise.all([first, second]);
    expect(await requests(users[1])).toBe(before + 1);
    expect(t.logs.join("")).toContain('"limit":"project"');
  });
});
