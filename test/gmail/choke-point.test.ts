/**
 * The Gmail choke point in single-process mode, against the emulator: a pool's
 * limit holds for a lender and its borrower together (counted by the emulator),
 * a level change applies to the next requests, Google's rate limits pause and
 * retry instead of failing, and 5xx answers are retried on reads, never on a send.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, startTestApp, type TestApp } from "../support/app.ts";
import { authorizeConnection, startGoogle, type TestGoogle } from "../support/google.ts";

const PUBLIC_URL = "http://mailbridge.test";
const READONLY = "https://www.googleapis.com/auth/gmail.readonly";
const SEND = "https://www.googleapis.com/auth/gmail.send";

describe("the Gmail choke point", () => {
  let google: TestGoogle;
  let t: TestApp;
  let user: string;
  let lender: string;
  let borrower: string;

  const stats = async () => (await google.admin("GET", "/stats")).users[user];
  const testCalls = (n: number, ids: string[]) =>
    Promise.all(Array.from({ length: n }, (_, i) => api(t.app, t.adminToken).post(`/v1/connections/${ids[i % ids.length]}/test`)));

  beforeAll(async () => {
    google = await startGoogle();
    // Rate-limit backoff shortened so the retries of this suite take milliseconds, not seconds.
    t = await startTestApp({ env: { PUBLIC_URL, ...google.env }, deps: { backoff: { baseMs: 20, maxMs: 100 } } });
    const client = await google.newClient([`${PUBLIC_URL}/oauth2/callback`]);
    user = await google.newUser();
    const a = api(t.app, t.adminToken);
    const ic = (await a.post("/v1/iclients", { name: "ic", application: "gmail", ...client })).json();
    lender = (await a.post("/v1/connections", { name: "lender", application: "gmail", scopes: [READONLY], iClientId: ic.id, concurrencyLevel: 2 })).json().id;
    borrower = (await a.post("/v1/connections", { name: "borrower", application: "gmail", scopes: [READONLY], iClientId: ic.id, borrowConcurrencyFrom: lender })).json().id;
    for (const id of [lender, borrower]) expect((await authorizeConnection(t.app, t.adminToken, id, { email: user })).statusCode).toBe(200);
  });
  afterAll(async () => {
    await t?.close();
    await google?.close();
  });

  it("lets at most the lender's level be in flight for the lender and its borrower together", async () => {
    await google.admin("PUT", "/settings", { latencyMs: 30 });
    await google.admin("POST", "/stats/reset");
    const results = await testCalls(20, [lender, borrower]);
    expect(results.every((r) => r.json().ok === true)).toBe(true);
    expect(await stats()).toMatchObject({ requests: 20, maxInFlight: 2 });
  });

  it("applies a level change to the next requests", async () => {
    expect((await api(t.app, t.adminToken).patch(`/v1/connections/${lender}`, { concurrencyLevel: 4 })).json().effectiveConcurrency).toBe(4);
    expect((await api(t.app, t.adminToken).get(`/v1/connections/${borrower}`)).json().effectiveConcurrency).toBe(4);
    await google.admin("POST", "/stats/reset");
    await testCalls(24, [lender, borrower]);
    expect((await stats()).maxInFlight).toBe(4);
  });

  it("pauses and retries on Google's 429 instead of reporting a failure", async () => {
    await google.admin("PUT", "/settings", { latencyMs: 0, faults: { status: 429, rate: 0.25 } });
    await google.admin("POST", "/stats/reset");
    // 40 calls at a 25% fault rate: some 429s are all but certain (1 - 0.75^40), while eight in
    // a row for one call (runInPool's attempts) are not (40 * 0.25^8 ≈ 0.06%).
    const results = await testCalls(40, [lender, borrower]);
    await google.admin("PUT", "/settings", { faults: null });
    expect(results.map((r) => r.json())).toEqual(results.map(() => ({ ok: true, email: user })));
    // Some answers were 429s that were retried: Google saw more requests than we made.
    expect((await stats()).requests).toBeGreaterThan(40);
    expect(t.logs.join("")).toContain("Google rate limit: pausing pool");
  });

  it("retries Google's 503s on reads with backoff until they succeed", async () => {
    await google.admin("PUT", "/settings", { latencyMs: 0, faults: { status: 503, rate: 0.2 } });
    await google.admin("POST", "/stats/reset");
    // 40 reads at a 20% fault rate: some 503s are all but certain (1 - 0.8^40), eight in a row
    // for one call are not (40 * 0.2^8 ≈ 0.001%).
    const results = await testCalls(40, [lender, borrower]);
    await google.admin("PUT", "/settings", { faults: null });
    expect(results.map((r) => r.json())).toEqual(results.map(() => ({ ok: true, email: user })));
    expect((await stats()).requests).toBeGreaterThan(40);
    expect(t.logs.join("")).toContain("Google transient error: retrying");
    // Every retry counted on /metrics, by cause.
    const metrics = (await t.app.inject({ method: "GET", url: "/metrics" })).body;
    const retried = Number(/^mailbridge_gmail_retries_total\{cause="5xx"\} (\d+)$/m.exec(metrics)?.[1]);
    expect(retried).toBe((await stats()).requests - 40);
    expect(metrics).toMatch(/^mailbridge_gmail_quota_units_total\{iclient="[^"]+"\} \d+/m);
  });

  it("reports a 5xx that lasts after its attempts, and other Google errors at once", async () => {
    await google.admin("PUT", "/settings", { faults: { status: 500, rate: 1 } });
    await google.admin("POST", "/stats/reset");
    const res = (await api(t.app, t.adminToken).post(`/v1/connections/${lender}/test`)).json();
    expect(res).toMatchObject({ ok: false, error: { code: "google_error" } });
    expect((await stats()).requests).toBe(8);
    await google.admin("PUT", "/settings", { faults: { status: 400, rate: 1 } });
    await google.admin("POST", "/stats/reset");
    const bad = (await api(t.app, t.adminToken).post(`/v1/connections/${lender}/test`)).json();
    await google.admin("PUT", "/settings", { faults: null });
    expect(bad).toMatchObject({ ok: false });
    expect((await stats()).requests).toBe(1);
  });

  it("never retries a send on a 503: the message may have gone out", async () => {
    const a = api(t.app, t.adminToken);
    const ic = (await a.post("/v1/iclients", { name: "ic-send", application: "gmail", ...(await google.newClient([`${PUBLIC_URL}/oauth2/callback`])) })).json();
    const sender = (await a.post("/v1/connections", { name: "sender", application: "gmail", scopes: [SEND], iClientId: ic.id })).json().id;
    expect((await authorizeConnection(t.app, t.adminToken, sender, { email: user })).statusCode).toBe(200);
    const accountId = (await a.get("/v1/me")).json().id;
    await google.admin("PUT", "/settings", { faults: { status: 503, rate: 1 } });
    await google.admin("POST", "/stats/reset");
    const raw = Buffer.from(`To: ${user}\r\nSubject: once\r\n\r\nhello\r\n`).toString("base64url");
    const sent = t.app.gmail.run(accountId, sender, "messages.send", (g, options) => g.users.messages.send({ userId: "me", requestBody: { raw } }, options));
    await expect(sent).rejects.toMatchObject({ status: 503 });
    await google.admin("PUT", "/settings", { faults: null });
    expect((await stats()).requests).toBe(1);
  });
});
