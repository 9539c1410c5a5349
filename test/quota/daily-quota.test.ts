/**
 * The day's units per iClient (GMAIL_PROJECT_DAILY_UNITS, Google's daily billing threshold):
 * a warning at 90 %, calls refused with `daily_quota_reached` at 100 % without reaching Google,
 * and the next UTC day (an injected clock) lets them through again.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { systemClock, type QuotaClock } from "../../server/quota/index.ts";
import { api, startTestApp, type TestApp } from "../support/app.ts";
import { authorizeConnection, startGoogle, type TestGoogle } from "../support/google.ts";

const PUBLIC_URL = "http://mailbridge.test";
const READONLY = "https://www.googleapis.com/auth/gmail.readonly";
const DAY_MS = 24 * 60 * 60 * 1000;

describe("the day's Gmail units per iClient", () => {
  let google: TestGoogle;
  let t: TestApp;
  let user: string;
  let conn: string;
  let icId: string;
  let offset = 0;
  const clock: QuotaClock = { now: () => Date.now() + offset, sleep: systemClock.sleep };

  beforeAll(async () => {
    google = await startGoogle();
    t = await startTestApp({ env: { PUBLIC_URL, ...google.env, GMAIL_PROJECT_DAILY_UNITS: "10" }, deps: { quotaClock: clock } });
    const client = await google.newClient([`${PUBLIC_URL}/oauth2/callback`]);
    user = await google.newUser();
    const a = api(t.app, t.adminToken);
    const ic = (await a.post("/v1/iclients", { name: "ic", application: "gmail", ...client })).json();
    icId = ic.id;
    conn = (await a.post("/v1/connections", { name: "c", application: "gmail", scopes: [READONLY], iClientId: ic.id })).json().id;
    expect((await authorizeConnection(t.app, t.adminToken, conn, { email: user })).statusCode).toBe(200);
  });
  afterAll(async () => {
    await t?.close();
    await google?.close();
  });

  const test = async () => (await api(t.app, t.adminToken).post(`/v1/connections/${conn}/test`)).json();
  const requests = async () => (await google.admin("GET", "/stats")).users[user].requests as number;

  it("warns at 90 %, refuses past 100 % without calling Google, and lets calls through the next UTC day", async () => {
    // The authorization itself may have spent a unit (getProfile); spend the rest of the 10 with getProfile (1 each).
    const results = [];
    for (let i = 0; i < 10; i++) results.push(await test());
    const ok = results.filter((r) => r.ok === true).length;
    const refused = results.filter((r) => r.error?.code === "daily_quota_reached");
    expect(ok + refused.length).toBe(10);
    expect(ok).toBeGreaterThanOrEqual(9);
    expect(t.logs.join("")).toContain("Gmail daily quota: 90 %");
    expect(await t.app.gmail.dailyUsage(icId)).toEqual({ today: 10, dailyLimit: 10 });
    expect((await api(t.app, t.adminToken).get(`/v1/iclients/${icId}`)).json().usage).toEqual({ today: 10, dailyLimit: 10, warning: true });
    const before = await requests();
    const res = await test();
    expect(res).toMatchObject({ ok: false, error: { code: "daily_quota_reached" } });
    expect(await requests()).toBe(before); // Google never saw it
    offset += DAY_MS;
    expect(await test()).toMatchObject({ ok: true, email: user });
    expect(await requests()).toBe(before + 1);
    expect(await t.app.gmail.dailyUsage(icId)).toEqual({ today: 1, dailyLimit: 10 });
    expect((await api(t.app, t.adminToken).get(`/v1/iclients/${icId}`)).json().usage).toEqual({ today: 1, dailyLimit: 10, warning: false });
  });

  it("an iClient that allows billed usage goes on past its daily units, still counted", async () => {
    const a = api(t.app, t.adminToken);
    const client = await google.newClient([`${PUBLIC_URL}/oauth2/callback`]);
    const ic = (await a.post("/v1/iclients", { name: "billed", application: "gmail", allowBilledUsage: true, ...client })).json();
    const id = (await a.post("/v1/connections", { name: "billed-c", application: "gmail", scopes: [READONLY], iClientId: ic.id })).json().id;
    expect((await authorizeConnection(t.app, t.adminToken, id, { email: await google.newUser() })).statusCode).toBe(200);
    for (let i = 0; i < 14; i++) expect((await a.post(`/v1/connections/${id}/test`)).json()).toMatchObject({ ok: true });
    const usage = (await a.get(`/v1/iclients/${ic.id}`)).json().usage;
    expect(usage.today).toBeGreaterThanOrEqual(14);
    expect(usage).toMatchObject({ dailyLimit: 10, warning: true });
    // Switched off, the next call is refused (the setting is re-read within seconds; the clock moves past that).
    expect((await a.patch(`/v1/iclients/${ic.id}`, { allowBilledUsage: false })).statusCode).toBe(200);
    offset += 60_000;
    expect((await a.post(`/v1/connections/${id}/test`)).json()).toMatchObject({ ok: false, error: { code: "daily_quota_reached" } });
  });
});
