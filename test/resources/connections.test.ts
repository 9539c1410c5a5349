import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, startTestApp, type TestApp } from "../support/app.ts";
import { backends } from "../support/db.ts";
import { EMAIL, READONLY, SEND, connectionBody, iClientBody, insertFlow, markOnline, sharedStore, snapshot } from "./fixtures.ts";

describe.each(backends)("connections ($name)", (backend) => {
  let t: TestApp;
  let a: ReturnType<typeof api>;
  let ic: string;
  const create = (name: string, extra: Record<string, unknown> = {}) => a.post("/v1/connections", connectionBody(name, ic, extra));
  beforeAll(async () => {
    t = await startTestApp({ backend });
    a = api(t.app, t.adminToken);
    ic = (await a.post("/v1/iclients", iClientBody("conn-client"))).json().id;
  });
  afterAll(() => t.close());

  it("creates with defaults: unauthorized, level 5, userinfo.email added, the fixed callback URL", async () => {
    const res = await create("basic");
    expect(res.statusCode).toBe(201);
    expect(res.json()).toEqual({
      id: expect.stringMatching(/^con_/),
      name: "basic",
      application: "gmail",
      scopes: [READONLY, EMAIL],
      iClientId: ic,
      callbackUrl: t.config.callbackUrl,
      borrowConcurrencyFrom: null,
      concurrencyLevel: 5,
      effectiveConcurrency: 5,
      status: "unauthorized",
      offlineReason: null,
      email: null,
      grantedScopes: null,
      missingScopes: null,
      authorizedAt: null,
      revocation: null,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    expect(t.config.callbackUrl).toMatch(/\/oauth2\/callback$/);
    expect((await a.get(`/v1/connections/${res.json().id}`)).json()).toEqual(res.json());
    const ro = await a.patch(`/v1/connections/${res.json().id}`, { callbackUrl: "http://evil/cb" });
    expect(ro.statusCode).toBe(400);
  });

  it("validates names: 1..100 characters, unique per account (409 name_taken)", async () => {
    expect((await create("n".repeat(100))).statusCode).toBe(201);
    for (const name of ["", "n".repeat(101), " ", "tab\tname"]) {
      const res = await create(name);
      expect(res.statusCode, JSON.stringify(name)).toBe(400);
      expect(res.json().error.code).toBe("validation_failed");
    }
    expect((await create("taken")).statusCode).toBe(201);
    const dup = await create("taken");
    expect(dup.statusCode).toBe(409);
    expect(dup.json().error.code).toBe("name_taken");
    const other = (await create("other-name")).json();
    expect((await a.patch(`/v1/connections/${other.id}`, { name: "taken" })).json().error.code).toBe("name_taken");
  });

  it("validates scopes: non-empty, unique, from the catalogue; userinfo.email is kept once", async () => {
    for (const scopes of [[], [READONLY, READONLY], ["https://www.googleapis.com/auth/drive"], "x", [42]]) {
      const res = await create("scopes-bad", { scopes });
      expect(res.statusCode, JSON.stringify(scopes)).toBe(400);
      expect(res.json().error.code).toBe("validation_failed");
    }
    const withEmail = await create("scopes-email", { scopes: [EMAIL, SEND] });
    expect(withEmail.json().scopes).toEqual([EMAIL, SEND]);
  });

  it("requires an iClient of the account unless a platform iClient is configured", async () => {
    const none = await a.post("/v1/connections", { name: "no-iclient", application: "gmail", scopes: [READONLY] });
    expect(none.statusCode).toBe(400);
    expect(none.json().error.code).toBe("iclient_required");
    expect((await a.post("/v1/connections", connectionBody("ghost-iclient", "icl_ghost"))).statusCode).toBe(404);

    const platform = await startTestApp({ backend: sharedStore(t), env: { GOOGLE_CLIENT_ID: "platform.apps", GOOGLE_CLIENT_SECRET: "platform-secret" } });
    try {
      const res = await api(platform.app, t.adminToken).post("/v1/connections", { name: "platform-conn", application: "gmail", scopes: [READONLY] });
      expect(res.statusCode).toBe(201);
      expect(res.json().iClientId).toBeNull();
    } finally {
      await platform.app.close();
    }
    const stored = (await a.get("/v1/connections?limit=200")).json().items.find((c: any) => c.name === "platform-conn");
    // Moving it to its own iClient is allowed without a platform client; back to null is not.
    expect((await a.patch(`/v1/connections/${stored.id}`, { iClientId: ic })).json().iClientId).toBe(ic);
    expect((await a.patch(`/v1/connections/${stored.id}`, { iClientId: null })).json().error.code).toBe("iclient_required");
  });

  it("takes concurrencyLevel 1..25 (default 5) and applies a change to effectiveConcurrency", async () => {
    for (const level of [0, 26, 2.5, "5"]) {
      expect((await create("level-bad", { concurrencyLevel: level })).statusCode, String(level)).toBe(400);
    }
    const c = (await create("level-ok", { concurrencyLevel: 25 })).json();
    expect(c).toMatchObject({ concurrencyLevel: 25, effectiveConcurrency: 25 });
    expect((await a.patch(`/v1/connections/${c.id}`, { concurrencyLevel: 1 })).json()).toMatchObject({ concurrencyLevel: 1, effectiveConcurrency: 1 });
  });

  it("takes an online connection offline with reauthorize_required when its scopes change", async () => {
    const c = (await create("scope-change")).json();
    const same = await a.patch(`/v1/connections/${c.id}`, { scopes: [READONLY] });
    expect(same.json().status).toBe("unauthorized");
    await markOnline(t, c.id);
    expect((await a.patch(`/v1/connections/${c.id}`, { scopes: [EMAIL, READONLY], name: "scope-change-2" })).json().status).toBe("online");
    const changed = (await a.patch(`/v1/connections/${c.id}`, { scopes: [READONLY, SEND] })).json();
    expect(changed.status).toBe("offline");
    expect(changed.offlineReason).toEqual({ code: "reauthorize_required", message: expect.stringMatching(/scope/), at: expect.any(String) });
    expect(changed.missingScopes).toEqual([SEND]);
  });

  it("takes an online connection offline when it moves to another iClient", async () => {
    const other = (await a.post("/v1/iclients", iClientBody("second-client"))).json().id;
    const c = (await create("moving")).json();
    await markOnline(t, c.id);
    const moved = (await a.patch(`/v1/connections/${c.id}`, { iClientId: other })).json();
    expect(moved).toMatchObject({ iClientId: other, status: "offline", offlineReason: { code: "reauthorize_required" } });
  });

  it("refuses to delete a connection a flow uses (409 naming the flow), deletes otherwise", async () => {
    const c = (await create("flow-used")).json();
    const flowId = await insertFlow(t, t.adminToken, "Nightly backup", [c.id]);
    const before = await snapshot(t);
    const refused = await a.delete(`/v1/connections/${c.id}`);
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error).toMatchObject({ code: "in_use", details: { flows: [{ id: flowId, name: "Nightly backup" }], connections: [] } });
    expect(refused.json().error.message).toContain("Nightly backup");
    expect(await snapshot(t)).toBe(before);
    await t.store.db.query("DELETE FROM flows WHERE id = $1", [flowId]);
    expect((await a.delete(`/v1/connections/${c.id}`)).statusCode).toBe(204);
    expect((await a.get(`/v1/connections/${c.id}`)).statusCode).toBe(404);
    expect((await a.delete(`/v1/connections/${c.id}`)).statusCode).toBe(404);
  });

  it("pages the list by limit and cursor, stably ordered", async () => {
    const b = api(t.app, await t.newAccount());
    const bic = (await b.post("/v1/iclients", iClientBody("paging-client"))).json().id;
    for (let i = 0; i < 5; i++) await b.post("/v1/connections", connectionBody(`p${i}`, bic));
    const first = (await b.get("/v1/connections?limit=3")).json();
    expect(first.items.map((c: any) => c.name)).toEqual(["p0", "p1", "p2"]);
    const second = (await b.get(`/v1/connections?limit=3&cursor=${first.nextCursor}`)).json();
    expect(second).toMatchObject({ items: [{ name: "p3" }, { name: "p4" }], nextCursor: null });
    expect((await b.get("/v1/connections?limit=201")).statusCode).toBe(400);
  });
});
