import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, startTestApp, type TestApp } from "../support/app.ts";
import { backends } from "../support/db.ts";
import { EMAIL, connectionBody, iClientBody, snapshot } from "./fixtures.ts";

const ROUTES = [
  ["get", "/v1/applications"],
  ["get", "/v1/iclients"],
  ["post", "/v1/iclients"],
  ["get", "/v1/iclients/{id}"],
  ["patch", "/v1/iclients/{id}"],
  ["delete", "/v1/iclients/{id}"],
  ["get", "/v1/connections"],
  ["post", "/v1/connections"],
  ["get", "/v1/connections/{id}"],
  ["patch", "/v1/connections/{id}"],
  ["delete", "/v1/connections/{id}"],
] as const;

describe.each(backends)("applications, OpenAPI and account isolation ($name)", (backend) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ backend });
  });
  afterAll(() => t.close());

  it("lists Google Mail with every scope, its sensitivity per GOOGLE.md, and the defaults", async () => {
    const res = await api(t.app, t.adminToken).get("/v1/applications");
    expect(res.statusCode).toBe(200);
    const [gmail] = res.json();
    expect(gmail).toMatchObject({ id: "gmail", name: "Google Mail", supports: { source: true, destination: true, lookup: true } });
    const sensitivity = Object.fromEntries(gmail.scopes.map((s: any) => [s.scope.replace("https://www.googleapis.com/auth/", ""), s.sensitivity]));
    expect(sensitivity).toEqual({
      "https://mail.google.com/": "restricted",
      "gmail.readonly": "restricted",
      "gmail.send": "sensitive",
      "gmail.compose": "restricted",
      "gmail.modify": "restricted",
      "gmail.insert": "restricted",
      "gmail.labels": "non-sensitive",
      "gmail.metadata": "restricted",
      "gmail.settings.basic": "restricted",
      "userinfo.email": "non-sensitive",
      "userinfo.profile": "non-sensitive",
    });
    for (const s of gmail.scopes) expect(s).toEqual({ scope: expect.any(String), label: expect.any(String), description: expect.any(String), sensitivity: expect.any(String) });
    expect(gmail.defaultScopes).toContain(EMAIL);
    expect(gmail.defaultScopes.every((d: string) => gmail.scopes.some((s: any) => s.scope === d))).toBe(true);
  });

  it("documents every route of the resources API with tags and request and response schemas", async () => {
    const doc = (await t.app.inject({ url: "/docs/json" })).json();
    for (const [method, path] of ROUTES) {
      const op = doc.paths[path]?.[method];
      expect(op, `${method} ${path}`).toBeDefined();
      expect(op.tags?.length, `${method} ${path} tags`).toBeGreaterThan(0);
      const ok = op.responses[method === "post" ? "201" : method === "delete" ? "204" : "200"];
      expect(ok, `${method} ${path} response`).toBeDefined();
      expect(op.responses["400"] ?? op.responses["404"], `${method} ${path} errors`).toBeDefined();
      if (method === "post" || method === "patch") expect(op.requestBody?.content?.["application/json"]?.schema, `${method} ${path} body`).toBeDefined();
      if (path.endsWith("{id}")) expect(op.parameters.some((p: any) => p.name === "id" && p.in === "path")).toBe(true);
    }
    const list = doc.paths["/v1/connections"].get;
    expect(list.parameters.map((p: any) => p.name).sort()).toEqual(["cursor", "limit"]);
    expect(list.description).toMatch(/cursor/);
    const connection = doc.paths["/v1/connections/{id}"].get.responses["200"].content["application/json"].schema;
    expect(Object.keys(connection.properties)).toEqual(expect.arrayContaining(["effectiveConcurrency", "callbackUrl", "offlineReason", "missingScopes"]));
  });

  it("keeps two accounts apart: the other's resources answer 404 for every use", async () => {
    const alice = api(t.app, await t.newAccount("alice"));
    const bob = api(t.app, await t.newAccount("bob"));
    const aic = (await alice.post("/v1/iclients", iClientBody("alice-client"))).json();
    const acon = (await alice.post("/v1/connections", connectionBody("alice-conn", aic.id))).json();
    const bic = (await bob.post("/v1/iclients", iClientBody("alice-client"))).json();
    expect(bic.id).toBeDefined(); // names are unique per account, not globally
    const before = await snapshot(t);

    const attempts = [
      bob.get(`/v1/iclients/${aic.id}`),
      bob.patch(`/v1/iclients/${aic.id}`, { name: "stolen" }),
      bob.delete(`/v1/iclients/${aic.id}`),
      bob.get(`/v1/connections/${acon.id}`),
      bob.patch(`/v1/connections/${acon.id}`, { name: "stolen" }),
      bob.delete(`/v1/connections/${acon.id}`),
      bob.post("/v1/connections", connectionBody("uses-alice-client", aic.id)),
      bob.post("/v1/connections", connectionBody("borrows-from-alice", bic.id, { borrowConcurrencyFrom: acon.id })),
    ];
    for (const res of await Promise.all(attempts)) {
      expect(res.statusCode, res.body).toBe(404);
      expect(res.json().error.code).toBe("not_found");
    }
    const bcon = (await bob.post("/v1/connections", connectionBody("bob-conn", bic.id))).json();
    const afterCreate = await bob.patch(`/v1/connections/${bcon.id}`, { borrowConcurrencyFrom: acon.id });
    expect(afterCreate.statusCode).toBe(404);
    expect((await bob.patch(`/v1/connections/${bcon.id}`, { iClientId: aic.id })).statusCode).toBe(404);
    await bob.delete(`/v1/connections/${bcon.id}`);
    expect(await snapshot(t)).toBe(before);

    const bobLists = [(await bob.get("/v1/iclients")).json(), (await bob.get("/v1/connections")).json()];
    expect(bobLists[0].items.map((i: any) => i.id)).toEqual([bic.id]);
    expect(bobLists[1].items).toEqual([]);
    expect((await alice.get(`/v1/connections/${acon.id}`)).json().name).toBe("alice-conn");
  });

  it("needs a token for every route of this API", async () => {
    for (const [method, path] of ROUTES) {
      const res = await t.app.inject({ method: method.toUpperCase() as any, url: path.replace("{id}", "x") });
      expect(res.statusCode, `${method} ${path}`).toBe(401);
    }
  });
});
