/**
 * Property: random and malformed requests to every route of the resources
 * API never answer 5xx, always answer errors in the API's shape, and a refused
 * request leaves every stored row exactly as it was.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, startTestApp, type TestApp } from "../support/app.ts";
import { backends } from "../support/db.ts";
import { GMAIL_SCOPE_URLS } from "../../connector/scopes.ts";
import { clientJson, connectionBody, iClientBody, insertFlow, snapshot } from "./fixtures.ts";

/** Raise with PROP_RUNS=1000 when hunting. */
const NUM_RUNS = Number(process.env.PROP_RUNS ?? 60);

describe.each(backends)("malformed input never breaks the resources API ($name)", (backend) => {
  let t: TestApp;
  let ids: string[];
  let validIClient: Record<string, unknown>;
  let validConnection: Record<string, unknown>;

  beforeAll(async () => {
    t = await startTestApp({ backend });
    const a = api(t.app, t.adminToken);
    const ic = (await a.post("/v1/iclients", iClientBody("prop-client"))).json().id;
    const lender = (await a.post("/v1/connections", connectionBody("prop-lender", ic))).json().id;
    const borrower = (await a.post("/v1/connections", connectionBody("prop-borrower", ic, { borrowConcurrencyFrom: lender }))).json().id;
    await insertFlow(t, t.adminToken, "prop-flow", [lender]);
    const other = api(t.app, await t.newAccount());
    const oic = (await other.post("/v1/iclients", iClientBody("other-client"))).json().id;
    const ocon = (await other.post("/v1/connections", connectionBody("other-conn", oic))).json().id;
    ids = [ic, lender, borrower, oic, ocon, "con_missing", "icl_missing"];
    validIClient = iClientBody("prop-new");
    validConnection = connectionBody("prop-new", ic);
  });
  afterAll(() => t.close());

  const text = () =>
    fc.oneof(
      fc.string({ unit: "binary", maxLength: 40 }),
      fc.constantFrom("", " ", "\u0000", "\t", "x".repeat(101), "gmail", "https://mail.google.com/", "con_", "%00", "icl_missing"),
    );
  const value = () =>
    fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      text(),
      fc.constantFrom(...ids),
      fc.integer({ min: -5, max: 30 }),
      fc.double(),
      fc.constant(null),
      fc.array(fc.constantFrom(...GMAIL_SCOPE_URLS, "bad-scope"), { maxLength: 4 }),
      fc.constantFrom(clientJson("web", []), { web: {} }, { installed: { client_id: "\u0000", client_secret: "s" } }, '{"web":'),
    );
  const keys = ["name", "application", "clientId", "clientSecret", "clientJson", "scopes", "iClientId", "borrowConcurrencyFrom", "concurrencyLevel", "extra", "__proto__", "constructor"];
  /** A valid body with fields dropped and others replaced by random values. */
  const mutated = (base: () => Record<string, unknown>) =>
    fc.tuple(fc.dictionary(fc.constantFrom(...keys), value(), { maxKeys: 3 }), fc.subarray(Object.keys(base()))).map(([over, drop]) => {
      const body: Record<string, unknown> = { ...base() };
      for (const k of drop) delete body[k];
      return JSON.stringify({ ...body, ...over });
    });
  const payload = (base: () => Record<string, unknown>) =>
    fc.oneof(mutated(base), fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)), fc.string({ unit: "binary", maxLength: 60 }));
  const contentType = fc.constantFrom("application/json", "application/json", "application/json", "text/plain", undefined);
  // Ids longer than Fastify's maxParamLength (100) and broken %-escapes are answered by the
  // router itself, through `frameworkErrors` in server/app.ts.
  const id = () =>
    fc.oneof(
      fc.constantFrom(...ids),
      text().map((s) => encodeURIComponent(s)),
      fc.constantFrom("%E0%A4%A", "%zz", "a%"),
      fc.string({ minLength: 101, maxLength: 160 }).map((s) => encodeURIComponent(s)),
    );
  const query = fc
    .dictionary(fc.constantFrom("limit", "cursor", "extra"), fc.oneof(text(), fc.integer({ min: -1, max: 300 }).map(String)), { maxKeys: 2 })
    .map((q) => new URLSearchParams(q).toString());

  type Req = { method: "GET" | "POST" | "PATCH" | "DELETE"; url: string; payload?: string; contentType?: string };
  const routes: [string, () => fc.Arbitrary<Req>][] = [
    ["GET /v1/applications", () => query.map((q) => ({ method: "GET", url: `/v1/applications?${q}` }))],
    ["GET /v1/iclients", () => query.map((q) => ({ method: "GET", url: `/v1/iclients?${q}` }))],
    ["GET /v1/connections", () => query.map((q) => ({ method: "GET", url: `/v1/connections?${q}` }))],
    ["POST /v1/iclients", () => fc.record({ payload: payload(() => validIClient), contentType }).map((r) => ({ method: "POST", url: "/v1/iclients", ...r }))],
    ["POST /v1/connections", () => fc.record({ payload: payload(() => validConnection), contentType }).map((r) => ({ method: "POST", url: "/v1/connections", ...r }))],
    ["GET /v1/iclients/:id", () => id().map((i) => ({ method: "GET", url: `/v1/iclients/${i}` }))],
    ["GET /v1/connections/:id", () => id().map((i) => ({ method: "GET", url: `/v1/connections/${i}` }))],
    ["DELETE /v1/iclients/:id", () => id().map((i) => ({ method: "DELETE", url: `/v1/iclients/${i}` }))],
    ["DELETE /v1/connections/:id", () => id().map((i) => ({ method: "DELETE", url: `/v1/connections/${i}` }))],
    [
      "PATCH /v1/iclients/:id",
      () => fc.record({ i: id(), payload: payload(() => ({ name: "prop-renamed", clientSecret: "rotated-secret-0000" })), contentType }).map(({ i, ...r }) => ({ method: "PATCH", url: `/v1/iclients/${i}`, ...r })),
    ],
    [
      "PATCH /v1/connections/:id",
      () => fc.record({ i: id(), payload: payload(() => ({ name: "prop-renamed", concurrencyLevel: 3 })), contentType }).map(({ i, ...r }) => ({ method: "PATCH", url: `/v1/connections/${i}`, ...r })),
    ],
  ];


  it.each(routes)("%s", async (_name, arb) => {
    await fc.assert(
      fc.asyncProperty(arb(), async (req) => {
        const before = await snapshot(t);
        const res = await t.app.inject({
          method: req.method,
          url: req.url,
          headers: { authorization: `Bearer ${t.adminToken}`, ...(req.contentType ? { "content-type": req.contentType } : {}) },
          ...(req.payload !== undefined ? { payload: req.payload } : {}),
        });
        expect(res.statusCode, res.body).toBeLessThan(500);
        if (res.statusCode >= 400) {
          expect(res.json()).toEqual({ error: { code: expect.stringMatching(/^[a-z_]+$/), message: expect.any(String), ...(res.json().error.details !== undefined ? { details: expect.anything() } : {}) } });
          expect(await snapshot(t)).toBe(before);
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
