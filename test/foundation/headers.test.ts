/**
 * Security headers on every kind of page the service serves, Secure cookies
 * behind https, and the 429s of sign-in, the OAuth callback and push hooks.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createHash, randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import type { LightMyRequestResponse } from "fastify";
import { buildApp } from "../../server/app.ts";
import { loadConfig } from "../../server/config.ts";
import { SecretBox } from "../../core/secrets.ts";
import { CALLBACK_RATE_LIMIT, HOOKS_RATE_LIMIT, SESSION_RATE_LIMIT } from "../../server/security.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { pgliteBackend } from "../support/db.ts";
import { testRedisUrl, uniqueName } from "../support/services.ts";

/** The CSP as a map of directive → sources. */
function csp(res: LightMyRequestResponse): Map<string, string[]> {
  const header = String(res.headers["content-security-policy"] ?? "");
  return new Map(
    header
      .split(";")
      .map((d) => d.trim().split(/\s+/))
      .filter((d) => d[0])
      .map(([name, ...sources]) => [name!, sources]),
  );
}

const signIn = (t: TestApp, token: string, remoteAddress = "203.0.113.7") =>
  t.app.inject({ method: "POST", url: "/v1/session", payload: { token }, remoteAddress });

describe("security headers", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it("the panel may not be framed, sniffed, or run inline script", async () => {
    const res = await t.app.inject({ url: "/", headers: { accept: "text/html" } });
    const policy = csp(res);
    expect(policy.get("frame-ancestors")).toEqual(["'none'"]);
    expect(policy.get("script-src")).toEqual(["'self'"]);
    expect(policy.get("script-src-attr")).toEqual(["'none'"]);
    expect(policy.get("object-src")).toEqual(["'none'"]);
    expect(policy.get("default-src")).toEqual(["'self'"]);
    expect(String(res.headers["content-security-policy"])).not.toContain("unsafe-inline");
    expect(res.headers["x-frame-options"]).toBe("DENY");
    expect(res.headers["x-content-type-options"]).toBe("nosniff");
    expect(res.headers["referrer-policy"]).toBe("no-referrer");
    // Plain http: no HSTS, no upgrade of the panel's own requests.
    expect(res.headers["strict-transport-security"]).toBeUndefined();
    expect(policy.has("upgrade-insecure-requests")).toBe(false);
  });

  it("API answers, errors and 404s carry the same headers", async () => {
    for (const res of [
      await t.app.inject({ url: "/v1/me", headers: { authorization: `Bearer ${t.adminToken}` } }),
      await t.app.inject({ url: "/v1/me" }),
      await t.app.inject({ url: "/v1/no-such-route", headers: { authorization: `Bearer ${t.adminToken}` } }),
    ]) {
      expect(res.headers["x-content-type-options"], res.body).toBe("nosniff");
      expect(csp(res).get("frame-ancestors")).toEqual(["'none'"]);
    }
  });

  it("the OAuth callback page's inline script and style are admitted by their hashes, and nothing else", async () => {
    const res = await t.app.inject({ url: "/oauth2/callback?state=unknown&code=x" });
    expect(res.statusCode).toBe(400);
    const policy = csp(res);
    const inline = (tag: "script" | "style") =>
      [...res.body.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, "g"))].map(
        (m) => `'sha256-${createHash("sha256").update(m[1]!, "utf8").digest("base64")}'`,
      );
    expect(inline("script")).toHaveLength(1);
    expect(policy.get("script-src")).toEqual(inline("script"));
    expect(policy.get("style-src")).toEqual(inline("style"));
    expect(policy.get("frame-ancestors")).toEqual(["'none'"]);
    // The result travels as data, never as code.
    expect(res.body).toContain('<script type="application/json" id="mailbridge-oauth-result">');
    expect(res.headers["referrer-policy"]).toBe("no-referrer");
    // The popup came back from Google's origin: its opener must stay reachable.
    expect(res.headers["cross-origin-opener-policy"]).toBeUndefined();
  });

  it("/docs gets a policy swagger-ui works under, and still may not be framed", async () => {
    const res = await t.app.inject({ url: "/docs" });
    expect(res.statusCode).toBe(200);
    const policy = csp(res);
    expect(policy.get("script-src")).toEqual(["'self'"]);
    expect(policy.get("frame-ancestors")).toEqual(["'none'"]);
  });
});

describe("the sandbox's Google emulator", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { GOOGLE_SANDBOX: "true" } });
  });
  afterAll(() => t.close());

  it("keeps its own pages (inline style, its form): only framing is refused", async () => {
    const res = await t.app.inject({ url: "/sandbox/google/o/oauth2/v2/auth?client_id=nobody&response_type=code" });
    expect(res.headers["content-type"]).toMatch(/html|json/);
    expect(res.headers["content-security-policy"]).toBe("frame-ancestors 'none'");
    expect(res.headers["x-content-type-options"]).toBe("nosniff");
    expect(res.headers["cross-origin-opener-policy"]).toBeUndefined();
  });
});

describe("https deployments", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { PUBLIC_URL: "https://mailbridge.example" } });
  });
  afterAll(() => t.close());

  it("the session cookie is Secure and HttpOnly, and HSTS is sent", async () => {
    const res = await signIn(t, t.adminToken);
    expect(res.statusCode).toBe(200);
    const cookie = String(res.headers["set-cookie"]);
    expect(cookie).toMatch(/^mb_session=/);
    expect(cookie).toMatch(/; Secure/);
    expect(cookie).toMatch(/; HttpOnly/);
    expect(res.headers["strict-transport-security"]).toMatch(/max-age=\d+/);
    expect(csp(res).has("upgrade-insecure-requests")).toBe(true);
    // Signing out clears it with the same attributes.
    const out = await t.app.inject({ method: "DELETE", url: "/v1/session", headers: { cookie: cookie.split(";")[0]! } });
    expect(out.statusCode).toBe(204);
    expect(String(out.headers["set-cookie"])).toMatch(/^mb_session=;.*; Secure/);
  });

  it("over plain http the cookie is not Secure (it would never be sent back)", async () => {
    const plain = await startTestApp();
    try {
      const res = await signIn(plain, plain.adminToken);
      expect(res.statusCode).toBe(200);
      expect(String(res.headers["set-cookie"])).not.toMatch(/Secure/);
    } finally {
      await plain.close();
    }
  });
});

describe("rate limits", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());
  afterEach(() => {
    vi.useRealTimers();
  });

  function expectRateLimited(res: LightMyRequestResponse) {
    expect(res.statusCode).toBe(429);
    expect(res.json()).toEqual({ error: { code: "rate_limited", message: expect.stringMatching(/try again in \d+ seconds/) } });
    expect(Number(res.headers["retry-after"])).toBeGreaterThan(0);
  }

  it("sign-in: wrong tokens from one address get 429 after the limit, even a right one; other addresses are not affected; the window passes", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    for (let i = 0; i < SESSION_RATE_LIMIT.max; i++) {
      expect((await signIn(t, `mb_wrong_${i}`)).statusCode).toBe(401);
    }
    expectRateLimited(await signIn(t, "mb_wrong_again"));
    const right = await signIn(t, t.adminToken);
    expectRateLimited(right);
    expect(right.headers["set-cookie"]).toBeUndefined();
    expect((await signIn(t, t.adminToken, "198.51.100.20")).statusCode).toBe(200);

    vi.advanceTimersByTime(SESSION_RATE_LIMIT.timeWindow + 1000);
    expect((await signIn(t, t.adminToken)).statusCode).toBe(200);
  });

  it("the OAuth callback answers 429 after its limit", async () => {
    const remoteAddress = "203.0.113.8";
    for (let i = 0; i < CALLBACK_RATE_LIMIT.max; i++) {
      const res = await t.app.inject({ url: `/oauth2/callback?state=nope${i}&code=x`, remoteAddress });
      expect(res.statusCode).toBe(400);
    }
    expectRateLimited(await t.app.inject({ url: "/oauth2/callback?state=nope&code=x", remoteAddress }));
  });

  it("routes under /hooks/ are limited as they are added", async () => {
    const store = await pgliteBackend.open();
    const config = loadConfig({ DATA_DIR: store.dataDir, LOG_LEVEL: "silent" }, []);
    const app = await buildApp(config, { db: store.db, secrets: new SecretBox([randomBytes(32)]), logger: false });
    try {
      app.post("/hooks/probe", { config: { public: true } }, async () => ({ ok: true }));
      await app.ready();
      for (let i = 0; i < HOOKS_RATE_LIMIT.max; i++) {
        const res = await app.inject({ method: "POST", url: "/hooks/probe", payload: {}, remoteAddress: "203.0.113.9" });
        expect(res.statusCode).toBe(200);
      }
      expectRateLimited(await app.inject({ method: "POST", url: "/hooks/probe", payload: {}, remoteAddress: "203.0.113.9" }));
      // Routes outside the list have no limit.
      for (let i = 0; i < HOOKS_RATE_LIMIT.max + 1; i++) {
        expect((await app.inject({ url: "/healthz", remoteAddress: "203.0.113.9" })).statusCode).toBe(200);
      }
    } finally {
      await app.close();
      await store.close();
    }
  });

  it.skipIf(!testRedisUrl)("in a cluster the processes share one count (Redis)", async () => {
    const redis = new Redis(testRedisUrl!, { maxRetriesPerRequest: null });
    const env = { REDIS_PREFIX: uniqueName("rl") };
    const a = await startTestApp({ env, deps: { redis } });
    const b = await startTestApp({ env, deps: { redis }, store: a.store, secrets: a.secrets });
    try {
      const half = SESSION_RATE_LIMIT.max / 2;
      for (let i = 0; i < half; i++) expect((await signIn(a, `mb_wrong_a${i}`)).statusCode).toBe(401);
      for (let i = 0; i < half; i++) expect((await signIn(b, `mb_wrong_b${i}`)).statusCode).toBe(401);
      expectRateLimited(await signIn(a, "mb_wrong_a"));
      expectRateLimited(await signIn(b, "mb_wrong_b"));
    } finally {
      await b.close();
      await a.close();
      redis.disconnect();
    }
  });
});
