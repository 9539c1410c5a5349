/**
 * A call short of quota waits in the choke point, before its pool slot and without reaching
 * Google; `/metrics` shows it waiting; its signal stops the wait at once.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, startTestApp, type TestApp } from "../support/app.ts";
import { authorizeConnection, startGoogle, type TestGoogle } from "../support/google.ts";

const PUBLIC_URL = "http://mailbridge.test";
const READONLY = "https://www.googleapis.com/auth/gmail.readonly";

describe("a Gmail call waiting for its quota", () => {
  let google: TestGoogle;
  let t: TestApp;
  let user: string;
  let list: (signal?: AbortSignal) => Promise<unknown>;

  beforeAll(async () => {
    google = await startGoogle();
    // 150 units a minute: a headroom of 75 units (15 lists), then one list (5 units) every ~4 s.
    t = await startTestApp({ env: { PUBLIC_URL, ...google.env, GMAIL_USER_QUOTA_UNITS_PER_MINUTE: "150" } });
    const client = await google.newClient([`${PUBLIC_URL}/oauth2/callback`]);
    user = await google.newUser();
    const a = api(t.app, t.adminToken);
    const ic = (await a.post("/v1/iclients", { name: "ic", application: "gmail", ...client })).json();
    const id = (await a.post("/v1/connections", { name: "c", application: "gmail", scopes: [READONLY], iClientId: ic.id, concurrencyLevel: 1 })).json().id;
    expect((await authorizeConnection(t.app, t.adminToken, id, { email: user })).statusCode).toBe(200);
    const accountId = (await a.get("/v1/me")).json().id;
    list = (signal) => t.app.gmail.run(accountId, id, "messages.list", (g, options) => g.users.messages.list({ userId: "me", maxResults: 1 }, options), { signal });
  });
  afterAll(async () => {
    await t?.close();
    await google?.close();
  });

  const waiting = async () => {
    const metrics = (await t.app.inject({ method: "GET", url: "/metrics" })).body;
    return Number(/^mailbridge_gmail_quota_waiting\{iclient="[^"]+"\} (\d+)$/m.exec(metrics)?.[1] ?? 0);
  };

  it("waits without reaching Google, shows on /metrics, and stops at its signal", async () => {
    await google.admin("POST", "/stats/reset");
    // Spend the headroom (and a little of what refills meanwhile).
    for (let i = 0; i < 16; i++) await list();
    const before = (await google.admin("GET", "/stats")).users[user].requests;
    const ac = new AbortController();
    const waited = list(ac.signal);
    waited.catch(() => {});
    // It waits for quota, not for a slot (the pool of 1 is free) and not at Google.
    await expect.poll(waiting, { timeout: 5_000, interval: 20 }).toBe(1);
    expect((await google.admin("GET", "/stats")).users[user].requests).toBe(before);
    const reason = new Error("run cancelled");
    ac.abort(reason);
    await expect(waited).rejects.toBe(reason);
    expect(await waiting()).toBe(0);
    expect((await google.admin("GET", "/stats")).users[user].requests).toBe(before);
  });
});
