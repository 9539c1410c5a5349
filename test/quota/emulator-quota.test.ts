/**
 * The budgets against the emulator enforcing Google's per-user quota (a sliding minute), on one
 * fake clock shared by the emulator and Mailbridge that moves only when every call is asleep on
 * it (waiting for its quota or a backoff), never while a request is in flight. So what is tested
 * is the pacing itself: on a real clock an event-loop stall on a busy machine delays requests the
 * budget already paced and bunches them into one of Google's minutes, which made this suite fail
 * about once in seven runs under load. Google's refusals are counted by the emulator: every
 * request it saw beyond the calls made was a refusal or a fault.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmulator } from "../../emulator/index.ts";
import { MemoryBudget, RedisBudget, type QuotaBudget } from "../../server/quota/index.ts";
import { api, startTestApp, type TestApp } from "../support/app.ts";
import { authorizeConnection, googleEnv } from "../support/google.ts";
import { testRedisUrl, uniqueName } from "../support/services.ts";
import { FakeClock } from "./fake-clock.ts";

const QUOTA = 600; // units per minute, both sides
const PUBLIC_URL = "http://mailbridge.test";
const READONLY = "https://www.googleapis.com/auth/gmail.readonly";

const clock = new FakeClock(Date.now());

/**
 * Settle `calls`, moving the clock to the next wake-up whenever every unsettled call sleeps on it
 * (none in flight at Google, in the pool or in Redis), and only then.
 */
async function drive<T>(calls: Array<() => Promise<T>>): Promise<PromiseSettledResult<T>[]> {
  let pending = calls.length;
  let finished = false;
  const all = Promise.allSettled(calls.map((call) => call().finally(() => void pending--)));
  void all.then(() => (finished = true));
  while (!finished) {
    if (pending > 0 && clock.sleeping === pending) await clock.next();
    else await new Promise((r) => setTimeout(r, 2));
  }
  return all;
}

/** Starting apps and authorizing on a busy machine; the quota's minutes pass on the fake clock. */
const SLOW = { timeout: 120_000 };

describe("quota budgets against the emulator's per-user quota", () => {
  let emu: { baseUrl: string; close(): Promise<void> };
  const apps: TestApp[] = [];
  const budgets: QuotaBudget[] = [];
  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${emu.baseUrl}/_admin${path}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`emulator admin ${method} ${path}: ${res.status} ${await res.text()}`);
    const text = await res.text();
    return text ? JSON.parse(text) : undefined;
  };
  const env = () => ({
    PUBLIC_URL,
    ...googleEnv(emu.baseUrl),
    GMAIL_USER_QUOTA_UNITS_PER_MINUTE: String(QUOTA),
  });

  /** An app (a "process") on `budget`. */
  async function start(budget: QuotaBudget, shared?: TestApp) {
    budgets.push(budget);
    const t = await startTestApp({ env: env(), store: shared?.store, secrets: shared?.secrets, deps: { budget, quotaClock: clock, backoff: { baseMs: 20, maxMs: 100 } } });
    apps.push(t);
    return t;
  }

  /** messages.list (5 units) through `t`'s choke point. */
  const lister = (t: TestApp, accountId: string, id: string) => () =>
    t.app.gmail.run(accountId, id, "messages.list", (g, options) => g.users.messages.list({ userId: "me", maxResults: 1 }, options));

  /** An app with an iClient and a connection to `email`. */
  async function setup(email: string, budget: QuotaBudget) {
    const t = await start(budget);
    const clientId = `${uniqueName("c")}.apps.googleusercontent.com`;
    const clientSecret = `GOCSPX-${uniqueName("s")}`;
    await admin("POST", "/clients", { clientId, clientSecret, redirectUris: [`${PUBLIC_URL}/oauth2/callback`] });
    const a = api(t.app, t.adminToken);
    const ic = (await a.post("/v1/iclients", { name: uniqueName("ic"), application: "gmail", clientId, clientSecret })).json();
    const id = (await a.post("/v1/connections", { name: uniqueName("c"), application: "gmail", scopes: [READONLY], iClientId: ic.id, concurrencyLevel: 4 })).json().id;
    expect((await authorizeConnection(t.app, t.adminToken, id, { email })).statusCode).toBe(200);
    const accountId = (await a.get("/v1/me")).json().id;
    return { t, accountId, id, list: lister(t, accountId, id) };
  }

  const newUser = async () => {
    const email = `${uniqueName("u")}@example.com`;
    await admin("POST", "/users", { email, name: "Quota User" });
    return email;
  };

  beforeAll(async () => {
    emu = await startEmulator({ port: 0, host: "127.0.0.1", now: () => clock.now() });
  });
  afterAll(async () => {
    for (const t of apps.reverse()) await t.close();
    for (const b of budgets) await b.close();
    await emu?.close();
  });

  it("a burst of more than a minute of quota: every call succeeds, Google refuses none", SLOW, async () => {
    const email = await newUser();
    const { t, list } = await setup(email, new MemoryBudget({ clock }));
    await admin("PUT", "/settings", { quotaUnitsPerMinute: QUOTA, faults: null });
    await admin("POST", "/stats/reset");
    const calls = 130; // 650 units of messages.list
    const t0 = clock.now();
    const results = await drive(Array.from({ length: calls }, () => list));
    const took = clock.now() - t0;
    expect(results.filter((r) => r.status === "rejected")).toEqual([]);
    const stats = (await admin("GET", "/stats")).users[email];
    expect(stats).toMatchObject({ requests: calls, quotaUnits: calls * 5 });
    expect(t.logs.join("")).not.toContain("Google rate limit");
    // Paced, not all at once: 650 units at 600 a minute need 5 s (sliding minute) or 65 s (moving average).
    console.log(`650 units against ${QUOTA}/min: ${(took / 1000).toFixed(1)} s (Google's clock); ${((650 / QUOTA) * 60).toFixed(0)} s at the limit's own pace`);
    expect(took).toBeGreaterThan(5_000);
  });

  it("with Google answering 503 to 20 % of calls, every read is retried to success and still none is refused", SLOW, async () => {
    const email = await newUser();
    const { t, list } = await setup(email, new MemoryBudget({ clock }));
    await admin("PUT", "/settings", { quotaUnitsPerMinute: QUOTA, faults: { status: 503, rate: 0.2 } });
    await admin("POST", "/stats/reset");
    const calls = 60;
    const results = await drive(Array.from({ length: calls }, () => list));
    await admin("PUT", "/settings", { faults: null });
    expect(results.filter((r) => r.status === "rejected")).toEqual([]);
    const stats = (await admin("GET", "/stats")).users[email];
    // Retried: Google saw more requests than calls, each charged (the emulator charges before the fault).
    expect(stats.requests).toBeGreaterThan(calls);
    expect(stats.quotaUnits).toBe(stats.requests * 5);
    expect(t.logs.join("")).toContain("Google transient error: retrying");
    expect(t.logs.join("")).not.toContain("Google rate limit");
  });

  it.skipIf(!testRedisUrl)("two processes on one Redis sharing one mailbox stay inside its quota together", SLOW, async () => {
    const email = await newUser();
    const prefix = uniqueName("quota");
    const one = await setup(email, new RedisBudget({ redis: testRedisUrl!, prefix, clock }));
    // The second process shares the database, so the same iClient and connection: one project's quota.
    const twoApp = await start(new RedisBudget({ redis: testRedisUrl!, prefix, clock }), one.t);
    const two = { list: lister(twoApp, one.accountId, one.id) };
    await admin("PUT", "/settings", { quotaUnitsPerMinute: QUOTA, faults: null });
    await admin("POST", "/stats/reset");
    const each = 65; // 650 units in all
    const results = await drive([...Array.from({ length: each }, () => one.list), ...Array.from({ length: each }, () => two.list)]);
    expect(results.filter((r) => r.status === "rejected")).toEqual([]);
    expect((await admin("GET", "/stats")).users[email]).toMatchObject({ requests: 2 * each, quotaUnits: 2 * each * 5 });
  });
});
