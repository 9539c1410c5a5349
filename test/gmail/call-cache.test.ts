/**
 * The choke point reads a connection, its pool and its tokens at most 2 s old (every Gmail request
 * asks); a change made through this process is seen by the very next call: deauthorized, it fails
 * at once with no call to Google; new scopes (offline, reauthorize required) or a new client id on
 * its iClient likewise; authorized again, it works. A change made outside this process (another
 * process, or by hand in the database) shows within those 2 s.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, startTestApp, type TestApp } from "../support/app.ts";
import { authorizeConnection, startGoogle, type TestGoogle } from "../support/google.ts";
import { MAX_TOKEN_CACHE_MS } from "../../server/oauth/token-store.ts";

const PUBLIC_URL = "http://mailbridge.test";
const READONLY = "https://www.googleapis.com/auth/gmail.readonly";
const MODIFY = "https://www.googleapis.com/auth/gmail.modify";

describe("the choke point's reads of a connection and its tokens", () => {
  let google: TestGoogle;
  let t: TestApp;
  let user: string;
  let id: string;
  let iClientId: string;
  const a = () => api(t.app, t.adminToken);
  const requests = async () => (await google.admin("GET", "/stats")).users[user]?.requests ?? 0;
  const test = async () => (await a().post(`/v1/connections/${id}/test`)).json();

  beforeAll(async () => {
    google = await startGoogle();
    t = await startTestApp({ env: { PUBLIC_URL, ...google.env } });
    const client = await google.newClient([`${PUBLIC_URL}/oauth2/callback`]);
    user = await google.newUser();
    const ic = (await a().post("/v1/iclients", { name: "ic", application: "gmail", ...client })).json();
    iClientId = ic.id;
    id = (await a().post("/v1/connections", { name: "c", application: "gmail", scopes: [READONLY], iClientId: ic.id })).json().id;
    expect((await authorizeConnection(t.app, t.adminToken, id, { email: user })).statusCode).toBe(200);
  });
  afterAll(async () => {
    await t?.close();
    await google?.close();
  });

  it("fails the call right after a deauthorize, without calling Google, and works again once authorized", async () => {
    expect(await test()).toMatchObject({ ok: true, email: user });
    expect((await a().post(`/v1/connections/${id}/deauthorize`)).statusCode).toBeLessThan(300);
    await google.admin("POST", "/stats/reset");
    const after = await test();
    expect(after.ok).toBe(false);
    expect(after.error.code).toBe("not_authorized");
    expect(await requests()).toBe(0);
    expect((await authorizeConnection(t.app, t.adminToken, id, { email: user })).statusCode).toBe(200);
    expect(await test()).toMatchObject({ ok: true, email: user });
  });

  it("fails the call right after new scopes take the connection offline", async () => {
    expect(await test()).toMatchObject({ ok: true });
    const patched = await a().patch(`/v1/connections/${id}`, { scopes: [MODIFY] });
    expect(patched.json().status).toBe("offline");
    await google.admin("POST", "/stats/reset");
    expect(await test()).toMatchObject({ ok: false, error: { code: "reauthorize_required" } });
    expect(await requests()).toBe(0);
  });

  it("fails the call right after a new client id on its iClient takes the connection offline", async () => {
    expect((await authorizeConnection(t.app, t.adminToken, id, { email: user })).statusCode).toBe(200);
    expect(await test()).toMatchObject({ ok: true });
    const client = await google.newClient([`${PUBLIC_URL}/oauth2/callback`]);
    expect((await a().patch(`/v1/iclients/${iClientId}`, { clientId: client.clientId, clientSecret: client.clientSecret })).statusCode).toBe(200);
    await google.admin("POST", "/stats/reset");
    expect(await test()).toMatchObject({ ok: false, error: { code: "reauthorize_required" } });
    expect(await requests()).toBe(0);
  });

  it("sees a status set outside this process within MAX_TOKEN_CACHE_MS, and one back online at once", async () => {
    expect((await authorizeConnection(t.app, t.adminToken, id, { email: user })).statusCode).toBe(200);
    expect(await test()).toMatchObject({ ok: true });
    await t.store.db.query("UPDATE connections SET status = 'unauthorized' WHERE id = $1", [id]);
    const changed = Date.now();
    // Until the remembered read ages out the call may still go through; after it, never.
    while (Date.now() - changed < MAX_TOKEN_CACHE_MS) if ((await test()).ok === false) break;
    await google.admin("POST", "/stats/reset");
    expect(await test()).toMatchObject({ ok: false, error: { code: "not_authorized" } });
    expect(await requests()).toBe(0);
    // A remembered connection that is not online is read again before a call is refused.
    await t.store.db.query("UPDATE connections SET status = 'online' WHERE id = $1", [id]);
    expect(await test()).toMatchObject({ ok: true });
  });
});
