import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, startTestApp, type TestApp } from "../support/app.ts";
import { backends } from "../support/db.ts";
import { IClientStore } from "../../iclients/iclient-store.ts";
import { SecretBox } from "../../core/secrets.ts";
import { ApiError } from "../../core/errors.ts";
import { randomBytes } from "node:crypto";
import { SECRET, clientJson, connectionBody, iClientBody, markOnline } from "./fixtures.ts";

describe.each(backends)("iClients ($name)", (backend) => {
  let t: TestApp;
  let a: ReturnType<typeof api>;
  beforeAll(async () => {
    t = await startTestApp({ backend });
    a = api(t.app, t.adminToken);
  });
  afterAll(() => t.close());

  it("creates from clientId and clientSecret: hint, unknown callback registration, no usage", async () => {
    const res = await a.post("/v1/iclients", iClientBody("pair"));
    expect(res.statusCode).toBe(201);
    expect(res.json()).toEqual({
      id: expect.stringMatching(/^icl_/),
      name: "pair",
      application: "gmail",
      clientId: "pair.apps.googleusercontent.com",
      clientSecretHint: "…WXYZ",
      callbackUrlRegistered: null,
      usedBy: [],
      allowBilledUsage: false,
      usage: { today: 0, dailyLimit: 80_000_000, warning: false },
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    expect((await a.get(`/v1/iclients/${res.json().id}`)).json()).toEqual(res.json());
  });

  it("imports Google's web and installed client JSON, object or text, and checks the callback URL", async () => {
    const web = await a.post("/v1/iclients", { name: "web-json", application: "gmail", clientJson: clientJson("web", [t.config.callbackUrl]) });
    expect(web.statusCode).toBe(201);
    expect(web.json()).toMatchObject({ clientId: "1234-abc.apps.googleusercontent.com", clientSecretHint: "…WXYZ", callbackUrlRegistered: true });
    const installed = await a.post("/v1/iclients", {
      name: "installed-json",
      application: "gmail",
      clientJson: JSON.stringify(clientJson("installed", ["http://localhost"])),
    });
    expect(installed.statusCode).toBe(201);
    expect(installed.json().callbackUrlRegistered).toBe(false);
  });

  it("refuses malformed client JSON with a clear 400 that never quotes the secret", async () => {
    const bad: unknown[] = [
      "{not json " + SECRET,
      { web: { client_secret: SECRET } },
      { web: { client_id: "x", client_secret: SECRET }, installed: {} },
      { other: {} },
      { web: "nope" },
      { installed: { client_id: "x", client_secret: 42 } },
      { web: { client_id: "x", client_secret: SECRET, redirect_uris: "http://a" } },
      [],
    ];
    for (const clientJsonValue of bad) {
      const res = await a.post("/v1/iclients", { name: "bad-json", application: "gmail", clientJson: clientJsonValue });
      expect(res.statusCode, JSON.stringify(clientJsonValue)).toBe(400);
      expect(res.json().error.code).toMatch(/^(invalid_client_json|validation_failed)$/);
      expect(res.json().error.message).toMatch(/clientJson/);
      expect(res.body).not.toContain(SECRET);
    }
    const both = await a.post("/v1/iclients", { ...iClientBody("both"), clientJson: clientJson("web", []) });
    expect(both.statusCode).toBe(400);
    const missing = await a.post("/v1/iclients", { name: "no-secret", application: "gmail", clientId: "abc" });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error.message).toMatch(/clientSecret/);
    expect((await a.get("/v1/iclients?limit=200")).json().items.map((i: any) => i.name)).not.toContain("bad-json");
  });

  it("rejects duplicate names (409 name_taken), bad names, unknown fields and other applications", async () => {
    expect((await a.post("/v1/iclients", iClientBody("dup"))).statusCode).toBe(201);
    const dup = await a.post("/v1/iclients", iClientBody("dup"));
    expect(dup.statusCode).toBe(409);
    expect(dup.json().error.code).toBe("name_taken");
    for (const body of [iClientBody(""), iClientBody("x".repeat(101)), iClientBody("   "), { ...iClientBody("u"), extra: 1 }, iClientBody("o", { application: "slack" })]) {
      const res = await a.post("/v1/iclients", body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error.code).toBe("validation_failed");
    }
  });

  it("renames, rotates the secret and changes the client id; a new client id takes online connections offline", async () => {
    const ic = (await a.post("/v1/iclients", iClientBody("rotating"))).json();
    const online = (await a.post("/v1/connections", connectionBody("rot-online", ic.id))).json();
    const fresh = (await a.post("/v1/connections", connectionBody("rot-fresh", ic.id))).json();
    await markOnline(t, online.id);

    const renamed = await a.patch(`/v1/iclients/${ic.id}`, { name: "rotated" });
    expect(renamed.json()).toMatchObject({ name: "rotated", clientId: ic.clientId });
    const secret = await a.patch(`/v1/iclients/${ic.id}`, { clientSecret: "GOCSPX-another-secret-9876" });
    expect(secret.json().clientSecretHint).toBe("…9876");
    expect((await a.get(`/v1/connections/${online.id}`)).json().status).toBe("online");

    const newId = await a.patch(`/v1/iclients/${ic.id}`, { clientId: "new.apps.googleusercontent.com" });
    expect(newId.statusCode).toBe(200);
    expect(newId.json()).toMatchObject({ clientId: "new.apps.googleusercontent.com", callbackUrlRegistered: null });
    const after = (await a.get(`/v1/connections/${online.id}`)).json();
    expect(after.status).toBe("offline");
    expect(after.offlineReason).toEqual({ code: "reauthorize_required", message: expect.any(String), at: expect.any(String) });
    expect((await a.get(`/v1/connections/${fresh.id}`)).json().status).toBe("unauthorized");

    const viaJson = await a.patch(`/v1/iclients/${ic.id}`, { clientJson: clientJson("web", [t.config.callbackUrl]) });
    expect(viaJson.json()).toMatchObject({ clientId: "1234-abc.apps.googleusercontent.com", callbackUrlRegistered: true, clientSecretHint: "…WXYZ" });
    expect((await a.patch(`/v1/iclients/${ic.id}`, { name: "dup" })).json().error.code).toBe("name_taken");
    expect((await a.patch("/v1/iclients/icl_missing", { name: "x" })).statusCode).toBe(404);
  });

  it("allowBilledUsage: false by default, set on create, changed by PATCH alone, shown in the list; not a string", async () => {
    const ic = (await a.post("/v1/iclients", iClientBody("billed"))).json();
    expect(ic.allowBilledUsage).toBe(false);
    const on = await a.patch(`/v1/iclients/${ic.id}`, { allowBilledUsage: true });
    expect(on.statusCode).toBe(200);
    expect(on.json()).toMatchObject({ allowBilledUsage: true, clientId: ic.clientId, clientSecretHint: ic.clientSecretHint });
    expect((await a.get(`/v1/iclients/${ic.id}`)).json().allowBilledUsage).toBe(true);
    const listed = (await a.get("/v1/iclients?limit=100")).json().items.find((i: any) => i.id === ic.id);
    expect(listed).toMatchObject({ allowBilledUsage: true, usage: { today: 0, dailyLimit: 80_000_000, warning: false } });
    expect((await a.patch(`/v1/iclients/${ic.id}`, { allowBilledUsage: false })).json().allowBilledUsage).toBe(false);
    const created = await a.post("/v1/iclients", { ...iClientBody("billed-2"), allowBilledUsage: true });
    expect(created.statusCode).toBe(201);
    expect(created.json().allowBilledUsage).toBe(true);
    const bad = await a.patch(`/v1/iclients/${ic.id}`, { allowBilledUsage: "yes" });
    expect(bad.statusCode).toBe(400);
    expect(JSON.stringify(bad.json())).toContain("allowBilledUsage");
  });

  it("lists usedBy and refuses to delete an iClient in use (409 naming the connections)", async () => {
    const ic = (await a.post("/v1/iclients", iClientBody("shared"))).json();
    const c1 = (await a.post("/v1/connections", connectionBody("uses-shared-1", ic.id))).json();
    const c2 = (await a.post("/v1/connections", connectionBody("uses-shared-2", ic.id))).json();
    expect((await a.get(`/v1/iclients/${ic.id}`)).json().usedBy).toEqual([
      { id: c1.id, name: "uses-shared-1" },
      { id: c2.id, name: "uses-shared-2" },
    ]);
    const refused = await a.delete(`/v1/iclients/${ic.id}`);
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error).toMatchObject({ code: "in_use", details: { connections: [{ id: c1.id, name: "uses-shared-1" }, { id: c2.id, name: "uses-shared-2" }] } });
    expect(refused.json().error.message).toContain("uses-shared-1");
    await a.delete(`/v1/connections/${c1.id}`);
    await a.delete(`/v1/connections/${c2.id}`);
    expect((await a.delete(`/v1/iclients/${ic.id}`)).statusCode).toBe(204);
    expect((await a.get(`/v1/iclients/${ic.id}`)).statusCode).toBe(404);
  });

  it("pages the list by limit and cursor, stably ordered, and rejects a forged cursor", async () => {
    const token = await t.newAccount();
    const b = api(t.app, token);
    for (let i = 0; i < 5; i++) expect((await b.post("/v1/iclients", iClientBody(`page-${i}`))).statusCode).toBe(201);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: any = (await b.get(`/v1/iclients?limit=2${cursor ? `&cursor=${cursor}` : ""}`)).json();
      expect(res.items.length).toBeLessThanOrEqual(2);
      seen.push(...res.items.map((i: any) => i.name));
      cursor = res.nextCursor;
    } while (cursor);
    expect(seen).toEqual(["page-0", "page-1", "page-2", "page-3", "page-4"]);
    expect((await b.get("/v1/iclients")).json().nextCursor).toBeNull();
    for (const q of ["limit=0", "limit=201", "limit=x", "cursor=abc", `cursor=${Buffer.from('[1,"a\\u0000"]').toString("base64url")}`, "other=1"]) {
      const res = await b.get(`/v1/iclients?${q}`);
      expect(res.statusCode, q).toBe(400);
      expect(res.json().error.code).toBe("validation_failed");
    }
  });

  it("hands the decrypted credentials to the OAuth code only, and only within the account", async () => {
    const me = (await a.get("/v1/me")).json();
    // The app's SecretBox is private to it: seal a row with a store of our own to read it back.
    const box = new SecretBox([randomBytes(32)]);
    const store = new IClientStore(t.store.db, box);
    const own = await store.create(me.id, { ...iClientBody("sealed-here"), clientSecret: "GOCSPX-credentials-0001" });
    expect(await store.credentials(me.id, own.id)).toEqual({ clientId: "sealed-here.apps.googleusercontent.com", clientSecret: "GOCSPX-credentials-0001" });
    const other = (await api(t.app, await t.newAccount()).get("/v1/me")).json();
    await expect(store.credentials(other.id, own.id)).rejects.toMatchObject({ code: "not_found" });
    await expect(store.credentials(me.id, "icl_nope")).rejects.toBeInstanceOf(ApiError);
    await store.delete(me.id, own.id);
  });

  it("keeps the secret out of every response, log line and database row", async () => {
    const created = await a.post("/v1/iclients", iClientBody("secretive"));
    await a.patch(`/v1/iclients/${created.json().id}`, { clientSecret: `${SECRET}-v2` });
    const bodies = [created.body, (await a.get("/v1/iclients?limit=200")).body, (await a.get(`/v1/iclients/${created.json().id}`)).body];
    for (const body of bodies) expect(body).not.toContain(SECRET);
    expect(t.logs.join("")).not.toContain(SECRET);
    const rows = await t.store.db.query("SELECT * FROM iclients");
    expect(JSON.stringify(rows)).not.toContain(SECRET);
    expect(rows.every((r) => String(r.client_secret_sealed).startsWith("v1."))).toBe(true);
  });
});
