/**
 * Deny by default, decided by the matched route: every route the app
 * registered (collected by the auth plugin's `onRoute` hook) that is not
 * declared public answers 401 without a token, however its URL is spelled,
 * over real HTTP. Spellings the router maps to the route must get 401; the
 * others may miss the route (404/405) but never reach a handler.
 */
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../support/app.ts";
import type { RouteAccess } from "../../server/auth.ts";
import { prepareSandbox, SANDBOX_USER } from "../../server/sandbox.ts";
import { httpRequest, rawRequest } from "./raw-http.ts";

/** The public surface, on purpose: a new public route has to be added here too. */
const EXPECTED_PUBLIC = [
  /^\/healthz$/,
  /^\/readyz$/,
  /^\/metrics$/,
  /^\/docs(\/.*)?$/,
  /^\/$/,
  /^\/\*$/, // the panel's SPA fallback
  /^\/_mailbridge\/not-built\.css$/, // the "panel not built" page's stylesheet
  /^\/v1\/session$/,
  /^\/oauth2\/callback$/,
  /^\/hooks\/gmail$/, // Pub/Sub push: its JWT is the credential
  /^\/sandbox\/google\/(?!_admin)/, // Google's routes check Google's own credentials
];

const SAMPLE_ID = "con_0123456789abcdef0123";

/** The route's path with its parameters filled in. */
function concrete(url: string): string {
  return url.replace(/:[A-Za-z0-9_]+/g, SAMPLE_ID).replace(/\*$/, "x");
}

const encodeChar = (c: string) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`;

/** Spellings the router resolves to the same route. */
function sameRoute(path: string): [string, string][] {
  return [
    ["as registered", path],
    ["first letter %-encoded", path.replace(/[A-Za-z0-9]/, encodeChar)],
    ["a digit %-encoded", /\d/.test(path) ? path.replace(/\d/, encodeChar) : path.replace(/[a-z]/, encodeChar)],
    ["every letter and digit %-encoded", path.replace(/[A-Za-z0-9]/g, encodeChar)],
    ["lower-case %-escapes", path.replace(/[A-Za-z0-9]/g, (c) => encodeChar(c).toLowerCase())],
    ["absolute-form request line", `http://x${path}`],
    ["absolute-form with another host and port", `http://evil.example:81${path}`],
    ["with a query", `${path}?x=1`],
  ];
}

/** Spellings that may or may not reach the route; never a handler without a token. */
function otherSpellings(path: string): [string, string][] {
  const [, first, rest = ""] = /^\/([^/]*)(.*)$/.exec(path)!;
  return [
    ["leading //", `/${path}`],
    ["inner //", `/${first}/${rest}`],
    ["leading /./", `/.${path}`],
    ["inner /./", `/${first}/.${rest || "/"}`],
    ["/x/../", `/x/..${path}`],
    ["%2e%2e", `/x/%2e%2e${path}`],
    ["trailing slash", `${path}/`],
    ["upper case", path.toUpperCase()],
    ["; parameter at the end", `${path};jsessionid=1`],
    ["; parameter in the first segment", `/${first};x=1${rest}`],
    ["%2F for slashes", `/${path.slice(1).replace(/\//g, "%2F")}`],
    ["backslashes", path.replace(/\//g, "\\")],
    ["absolute-form with //", `http://x/${path}`],
  ];
}

describe("every route needs an account unless declared public, under every spelling", () => {
  let t: TestApp;
  let port: number;
  let routes: RouteAccess[];
  let memberToken: string;

  beforeAll(async () => {
    t = await startTestApp({ env: { GOOGLE_SANDBOX: "true" } });
    await t.app.listen({ port: 0, host: "127.0.0.1" });
    port = (t.app.server.address() as AddressInfo).port;
    routes = t.app.routeAccess();
    memberToken = await t.newAccount();
  }, 60_000);
  afterAll(() => t?.close());

  const send = (method: string, target: string, headers: Record<string, string> = {}) => {
    const withBody = !["GET", "HEAD", "DELETE", "OPTIONS"].includes(method);
    return rawRequest(port, httpRequest(method, target, withBody ? { "content-type": "application/json", ...headers } : headers, withBody ? "{}" : undefined));
  };

  it("collects every route, and only the expected ones are public", () => {
    expect(routes.length).toBeGreaterThan(40);
    const publicRoutes = routes.filter((r) => r.access === "public");
    for (const r of publicRoutes) expect(EXPECTED_PUBLIC.some((p) => p.test(r.url)), `${r.method} ${r.url} is public`).toBe(true);
    const mustBeClosed = routes.filter((r) => r.url.startsWith("/v1/") && r.url !== "/v1/session");
    expect(mustBeClosed.length).toBeGreaterThan(20);
    for (const r of mustBeClosed) expect(r.access, `${r.method} ${r.url}`).toBe("account");
    const admin = routes.filter((r) => r.url.includes("/_admin"));
    expect(admin.length).toBeGreaterThan(3);
    for (const r of admin) expect(r.access, `${r.method} ${r.url}`).toBe("admin-token");
  });

  it("answers 401 to every non-public route under every spelling the router maps to it", async () => {
    const closed = routes.filter((r) => r.access !== "public");
    let checked = 0;
    for (const route of closed) {
      for (const [how, target] of sameRoute(concrete(route.url))) {
        const res = await send(route.method, target);
        expect(res.status, `${route.method} ${target} (${how}, route ${route.url})`).toBe(401);
        if (route.method !== "HEAD") expect(JSON.parse(res.body).error.code).toBe("unauthorized");
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(300);
  }, 120_000);

  it("never reaches a handler without a token under the other spellings", async () => {
    const closed = routes.filter((r) => r.access !== "public" && r.method !== "HEAD");
    for (const route of closed) {
      for (const [how, target] of otherSpellings(concrete(route.url))) {
        const res = await send(route.method, target);
        const what = `${route.method} ${target} (${how}, route ${route.url}) → ${res.status} ${res.body.slice(0, 200)}`;
        expect([400, 401, 404, 405], what).toContain(res.status);
        const { error } = JSON.parse(res.body);
        // Under its prefix the mounted emulator answers an unknown path with its own 404 body.
        const googleNotFound = route.url.startsWith("/sandbox/google/") && res.status === 404;
        if (!googleNotFound) expect(["unauthorized", "route_not_found", "method_not_allowed", "validation_failed"], what).toContain(error.code);
      }
    }
  }, 120_000);

  it("lets the same requests through with a token (the walk can fail)", async () => {
    const res = await send("GET", "/%761/me", { authorization: `Bearer ${t.adminToken}` });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).name).toBe("default");
    const absolute = await send("GET", "http://x/v1/me", { authorization: `Bearer ${memberToken}` });
    expect(absolute.status).toBe(200);
  });

  it("opens the sandbox's admin routes to an admin account's API token only", async () => {
    expect((await send("GET", "/sandbox/google/_admin/stats")).status).toBe(401);
    expect((await send("GET", "/sandbox/google/%5Fadmin/stats")).status).toBe(401);
    expect((await send("GET", "/sandbox/google/_admin/stats", { authorization: `Bearer ${memberToken}` })).status).toBe(403);
    const session = await t.app.inject({ method: "POST", url: "/v1/session", payload: { token: t.adminToken } });
    const cookie = String(session.headers["set-cookie"]).split(";")[0]!;
    expect((await send("GET", "/sandbox/google/_admin/stats", { cookie })).status).toBe(401);
    expect((await send("GET", "/sandbox/google/_admin/stats", { authorization: `Bearer ${t.adminToken}` })).status).toBe(200);
    // Google's own routes stay open to Google's credentials.
    const userinfo = await send("GET", "/sandbox/google/oauth2/v2/userinfo");
    expect(userinfo.status).toBe(401);
    expect(JSON.parse(userinfo.body).error.code, "Google's error body, not the service's").toBe(401);
  });

  it("seeds the sandbox through its admin routes with a token that lives only for the seeding", async () => {
    const tokensBefore = await t.store.db.query("SELECT token_hash FROM api_tokens ORDER BY 1");
    await prepareSandbox(t.app, t.config, { db: t.store.db, secrets: t.secrets });
    const user = await send("GET", `/sandbox/google/_admin/users/${SANDBOX_USER}`, { authorization: `Bearer ${t.adminToken}` });
    expect(user.status, user.body).toBe(200);
    expect(await t.store.db.query("SELECT token_hash FROM api_tokens ORDER BY 1")).toEqual(tokensBefore);
  }, 60_000);

  it("keeps public routes public under another spelling", async () => {
    expect((await send("GET", "/%68ealthz")).status).toBe(200);
    expect((await send("GET", "http://x/readyz")).status).toBe(200);
  });
});
