import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, startTestApp, type TestApp } from "../support/app.ts";

describe("HTTP basics", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it("answers 401 with the error shape without a token, 200 with one", async () => {
    const anon = await t.app.inject({ method: "GET", url: "/v1/me" });
    expect(anon.statusCode).toBe(401);
    expect(anon.json()).toEqual({ error: { code: "unauthorized", message: expect.any(String) } });
    const bad = await t.app.inject({ method: "GET", url: "/v1/me", headers: { authorization: "Bearer nope" } });
    expect(bad.statusCode).toBe(401);
    const ok = await api(t.app, t.adminToken).get("/v1/me");
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ name: "default", isAdmin: true });
  });

  it("rejects malformed JSON, unknown fields, big bodies and wrong content types with 4xx codes", async () => {
    const headers = { authorization: `Bearer ${t.adminToken}`, "content-type": "application/json" };
    const cases = [
      { payload: '{"name":', headers, status: 400, code: "invalid_json" },
      { payload: '{"name":"a","extra":1}', headers, status: 400, code: "validation_failed" },
      { payload: JSON.stringify({ name: "x".repeat(2 * 1024 * 1024) }), headers, status: 413, code: "payload_too_large" },
      { payload: "name=a", headers: { ...headers, "content-type": "text/plain" }, status: 415, code: "unsupported_media_type" },
      { payload: "name=a", headers: { ...headers, "content-type": "application/x-www-form-urlencoded" }, status: 415, code: "unsupported_media_type" },
    ];
    for (const c of cases) {
      const res = await t.app.inject({ method: "POST", url: "/v1/accounts", headers: c.headers, payload: c.payload });
      expect(res.statusCode, c.code).toBe(c.status);
      expect(res.json().error.code).toBe(c.code);
      expect(res.body).not.toMatch(/at .*\.ts:\d+/);
    }
    // Still serving, and nothing was created by the refused requests.
    const ok = await api(t.app, t.adminToken).post("/v1/accounts", { name: "after-bad-input" });
    expect(ok.statusCode).toBe(201);
  });

  it("answers JSON 404 for unknown routes", async () => {
    const res = await t.app.inject({ method: "GET", url: "/no/such/route" });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe("route_not_found");
  });

  it("creates accounts with an admin token only, showing the token once", async () => {
    const admin = api(t.app, t.adminToken);
    const created = await admin.post("/v1/accounts", { name: "acme" });
    expect(created.statusCode).toBe(201);
    const { token } = created.json();
    expect(token).toMatch(/^mb_/);
    expect((await admin.post("/v1/accounts", { name: "acme" })).json().error.code).toBe("name_taken");
    const me = await api(t.app, token).get("/v1/me");
    expect(me.json()).toMatchObject({ name: "acme", isAdmin: false });
    const refused = await api(t.app, token).post("/v1/accounts", { name: "other" });
    expect(refused.statusCode).toBe(403);
    // Stored hashed: the plaintext is nowhere in the table.
    const rows = await t.store.db.query("SELECT token_hash FROM api_tokens");
    expect(JSON.stringify(rows)).not.toContain(token);
  });

  it("signs in with a session cookie that is HttpOnly and SameSite", async () => {
    const res = await t.app.inject({
      method: "POST",
      url: "/v1/session",
      headers: { "content-type": "application/json" },
      payload: { token: t.adminToken },
    });
    expect(res.statusCode).toBe(200);
    const cookie = String(res.headers["set-cookie"]);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);
    const session = cookie.split(";")[0]!;
    const me = await t.app.inject({ method: "GET", url: "/v1/me", headers: { cookie: session } });
    expect(me.json().name).toBe("default");
    await t.app.inject({ method: "DELETE", url: "/v1/session", headers: { cookie: session } });
    expect((await t.app.inject({ method: "GET", url: "/v1/me", headers: { cookie: session } })).statusCode).toBe(401);
    const wrong = await t.app.inject({ method: "POST", url: "/v1/session", headers: { "content-type": "application/json" }, payload: { token: "bad" } });
    expect(wrong.statusCode).toBe(401);
  });

  it("serves health, readiness, metrics and the OpenAPI document", async () => {
    expect((await t.app.inject({ url: "/healthz" })).json()).toEqual({ status: "ok" });
    expect((await t.app.inject({ url: "/readyz" })).json()).toMatchObject({ status: "ready", checks: { database: "ok" } });
    expect((await t.app.inject({ url: "/metrics" })).body).toContain("mailbridge_http_requests_total");
    const doc = (await t.app.inject({ url: "/docs/json" })).json();
    expect(doc.paths["/v1/session"]).toBeDefined();
    expect(doc.paths["/v1/accounts"].post).toBeDefined();
  });

  it("never logs the authorization header or tokens", async () => {
    const all = t.logs.join("");
    expect(all.length).toBeGreaterThan(0);
    expect(all).not.toContain(t.adminToken);
  });
});
