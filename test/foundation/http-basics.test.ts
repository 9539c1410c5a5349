import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AddressInfo } from "node:net";
import { api, startTestApp, type TestApp } from "../support/app.ts";
import { httpRequest, rawRequest } from "../security/raw-http.ts";

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

  it("answers 405 method_not_allowed with Allow for a known path and a wrong method", async () => {
    const res = await t.app.inject({ method: "PUT", url: "/v1/iclients" });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe("GET, HEAD, POST");
    expect(res.json().error.code).toBe("method_not_allowed");
    const withId = await t.app.inject({ method: "POST", url: "/v1/iclients/icl_0123456789abcdef0123" });
    expect(withId.statusCode).toBe(405);
    expect(withId.headers.allow).toBe("GET, HEAD, PATCH, DELETE");
    // The panel's SPA fallback answers GET everywhere; that does not make a path known.
    const unknown = await t.app.inject({ method: "POST", url: "/no/such/route" });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe("route_not_found");
  });

  it("answers Node's own client errors and a request without Host in the error shape", async () => {
    await t.app.listen({ port: 0, host: "127.0.0.1" });
    const port = (t.app.server.address() as AddressInfo).port;
    const cases: [string, string | Buffer, number, string][] = [
      ["headers over Node's limit", httpRequest("GET", "/v1/me", { "x-big": "a".repeat(20_000) }), 431, "headers_too_large"],
      ["a Content-Length that is not a number", "POST /v1/iclients HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400, "validation_failed"],
      ["two different Content-Lengths", "POST /v1/iclients HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400, "validation_failed"],
      ["a request line that is not one", "GARBAGE\r\n\r\n", 400, "validation_failed"],
      ["a NUL in the request line", "GET /v1/\u0000me HTTP/1.1\r\nHost: x\r\n\r\n", 400, "validation_failed"],
      ["no Host", "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n", 400, "validation_failed"],
    ];
    for (const [what, request, status, code] of cases) {
      const res = await rawRequest(port, request);
      expect(res.status, what).toBe(status);
      expect(res.headers["content-type"], what).toMatch(/^application\/json/);
      expect(JSON.parse(res.body), what).toEqual({ error: { code, message: expect.any(String) } });
    }
  });

  it("refuses NUL and unpaired surrogates in any string with 400 naming the field, and bad UTF-8 bodies", async () => {
    const a = api(t.app, t.adminToken);
    for (const name of ["a\u0000b", "a\ud800b", "\udc00"]) {
      const res = await a.post("/v1/iclients", { name, application: "gmail", clientId: "x.apps.googleusercontent.com", clientSecret: "s" });
      expect(res.statusCode).toBe(400);
      expect(res.json().error).toMatchObject({ code: "validation_failed", details: [{ field: "body.name" }] });
    }
    const nested = await a.post("/v1/iclients", { name: "n", application: "gmail", clientJson: { web: { client_id: "x", client_secret: "s\u0000" } } });
    expect(nested.json().error.details[0].field).toBe("body.clientJson");
    const query = await a.get("/v1/iclients?cursor=%00");
    expect(query.json().error.details[0].field).toBe("querystring.cursor");
    const id = await a.post("/v1/connections/con_1%00/authorize");
    expect(id.statusCode).toBe(400);
    expect(id.json().error.details[0].field).toBe("params.id");
    const bytes = await t.app.inject({
      method: "POST",
      url: "/v1/iclients",
      headers: { authorization: `Bearer ${t.adminToken}`, "content-type": "application/json" },
      payload: Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]),
    });
    expect(bytes.statusCode).toBe(400);
    expect(bytes.json().error.code).toBe("invalid_json");
    const rows = await t.store.db.query("SELECT name FROM iclients");
    expect(rows).toEqual([]);
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
