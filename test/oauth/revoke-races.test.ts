/**
 * Revocation against a refresh in flight, and a delete whose revocation Google does not confirm.
 *
 * A proxy stands in front of the emulator's token and revoke endpoints: it holds the answer of a
 * refresh (the emulator has already rotated the refresh token) until the test lets it go, and can
 * make revocation answer 503. The emulator rotates refresh tokens, and revoking a rotated-out one
 * leaves the grant alive (as at any rotating server): a deauthorize that read the refresh token
 * while a refresh was replacing it would revoke the old one and leave the grant alive with the new.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RefreshLock } from "../../server/oauth/refresh-lock.ts";
import { api, startTestApp, type TestApp } from "../support/app.ts";
import { authorizeConnection, startGoogle, type TestGoogle } from "../support/google.ts";
import { testRedisUrl, uniqueName } from "../support/services.ts";

const READONLY = "https://www.googleapis.com/auth/gmail.readonly";

/** The emulator's /token and /revoke behind a proxy the test steers. */
async function startProxy(google: TestGoogle) {
  let holdRefresh: { answered: (body: any) => void; release: Promise<void> } | undefined;
  let failRevoke = false;
  const revokes: string[] = [];
  const revokeWaiters: Array<() => void> = [];
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString();
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (path === "/revoke") {
      revokes.push(body);
      for (const wake of revokeWaiters.splice(0)) wake();
      if (failRevoke) {
        res.writeHead(503, { "content-type": "application/json" }).end(JSON.stringify({ error: "backend_error" }));
        return;
      }
    }
    const upstream = await fetch(`${google.baseUrl}${path}`, {
      method: req.method,
      headers: { "content-type": req.headers["content-type"] ?? "application/x-www-form-urlencoded", ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) },
      body,
    });
    const text = await upstream.text();
    const hold = path === "/token" && new URLSearchParams(body).get("grant_type") === "refresh_token" ? holdRefresh : undefined;
    if (hold) {
      holdRefresh = undefined;
      hold.answered(JSON.parse(text));
      await hold.release;
    }
    res.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "application/json" }).end(text);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    env: { GOOGLE_TOKEN_URL: `${base}/token`, GOOGLE_REVOKE_URL: `${base}/revoke` },
    revokes,
    /** Resolves when the next revocation request arrives. */
    nextRevoke: () => new Promise<void>((r) => revokeWaiters.push(r)),
    set failRevoke(v: boolean) {
      failRevoke = v;
    },
    /** Hold the next refresh's answer: resolves with it once the emulator answered; `release` lets it go on. */
    holdNextRefresh() {
      let release!: () => void;
      const released = new Promise<void>((r) => (release = r));
      const answered = new Promise<any>((r) => (holdRefresh = { answered: r, release: released }));
      return { answered, release };
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe.each([
  ["one process (in-memory lock)", false],
  ["queue mode (Redis lock)", true],
] as const)("deauthorize with a refresh in flight, %s", (_name, useRedis) => {
  let google: TestGoogle;
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  let t: TestApp;
  let redis: Redis | undefined;
  /** Resolves when a second caller asks for a connection's lock while the first holds it. */
  let onLockCall: ((n: number) => void) | undefined;
  let lockCalls = 0;

  beforeAll(async () => {
    if (useRedis && !testRedisUrl) return;
    google = await startGoogle();
    proxy = await startProxy(google);
    redis = useRedis ? new Redis(testRedisUrl!) : undefined;
    const wrap = (lock: RefreshLock): RefreshLock => ({
      withLock(key, fn) {
        onLockCall?.(++lockCalls);
        return lock.withLock(key, fn);
      },
    });
    t = await startTestApp({
      env: { PUBLIC_URL: "http://mailbridge.test", ...google.env, ...proxy.env, REDIS_PREFIX: uniqueName("revoke") },
      deps: { wrapRefreshLock: wrap, ...(redis ? { redis } : {}) },
    });
    // Every access token is inside the refresh margin, so each Gmail call refreshes first; and
    // each refresh rotates the refresh token.
    await google.admin("PUT", "/settings", { accessTokenTtlSeconds: 30, rotateRefreshTokens: true });
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await redis?.quit();
    await proxy?.close();
    await google?.close();
  });

  it.skipIf(useRedis && !testRedisUrl)("revokes the refresh token the refresh just rotated in: the grant is dead afterwards", async () => {
    const client = await google.newClient([t.config.callbackUrl]);
    const user = await google.newUser();
    const a = api(t.app, t.adminToken);
    const iclient = (await a.post("/v1/iclients", { name: uniqueName("ic"), application: "gmail", ...client })).json();
    const id = (await a.post("/v1/connections", { name: uniqueName("c"), application: "gmail", scopes: [READONLY], iClientId: iclient.id })).json().id;
    expect((await authorizeConnection(t.app, t.adminToken, id, { email: user })).statusCode).toBe(200);

    const held = proxy.holdNextRefresh();
    const test = a.post(`/v1/connections/${id}/test`, {});
    const rotated = await held.answered; // the emulator rotated: the old refresh token is retired
    expect(rotated.refresh_token).toEqual(expect.any(String));
    const callsBefore = lockCalls;
    const asked = new Promise<void>((resolve) => {
      onLockCall = (n) => n > callsBefore && resolve();
    });
    const revoked = proxy.nextRevoke();
    const deauthorize = a.post(`/v1/connections/${id}/deauthorize`, {});
    // Deauthorize either waits for the lock (as it must) or, without it, sends its revocation now.
    await Promise.race([asked, revoked]);
    held.release();
    expect((await test).statusCode).toBe(200);
    const answer = await deauthorize;
    expect(answer.statusCode, answer.body).toBe(200);
    expect(answer.json()).toMatchObject({ status: "unauthorized", revocation: null });

    // The token the refresh rotated in was revoked: the grant is dead at Google.
    const res = await fetch(`${google.baseUrl}/token`, {
      method: "POST",
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: rotated.refresh_token, client_id: client.clientId, client_secret: client.clientSecret }),
    });
    expect(res.status).toBe(400);
    expect((await res.json()).error).toBe("invalid_grant");
    expect(new URLSearchParams(proxy.revokes.at(-1)).get("token")).toBe(rotated.refresh_token);
  });
});

describe("deleting a connection whose revocation Google does not confirm", () => {
  let google: TestGoogle;
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  let t: TestApp;

  beforeAll(async () => {
    google = await startGoogle();
    proxy = await startProxy(google);
    t = await startTestApp({ env: { PUBLIC_URL: "http://mailbridge.test", ...google.env, ...proxy.env } });
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await proxy?.close();
    await google?.close();
  });

  async function authorized() {
    const client = await google.newClient([t.config.callbackUrl]);
    const user = await google.newUser();
    const a = api(t.app, t.adminToken);
    const iclient = (await a.post("/v1/iclients", { name: uniqueName("ic"), application: "gmail", ...client })).json();
    const id = (await a.post("/v1/connections", { name: uniqueName("c"), application: "gmail", scopes: [READONLY], iClientId: iclient.id })).json().id as string;
    expect((await authorizeConnection(t.app, t.adminToken, id, { email: user })).statusCode).toBe(200);
    const sealed = (await t.store.db.query("SELECT tokens_sealed FROM connections WHERE id = $1", [id]))[0]!.tokens_sealed;
    const refreshToken = JSON.parse(t.secrets.open(sealed)).refreshToken as string;
    const refreshAtGoogle = async () =>
      (
        await fetch(`${google.baseUrl}/token`, {
          method: "POST",
          body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken, client_id: client.clientId, client_secret: client.clientSecret }),
        })
      ).status;
    return { a, id, refreshToken, refreshAtGoogle };
  }

  it("answers 200 with revocation failed (never a bare success), the connection gone and the grant truly alive", async () => {
    const { a, id, refreshToken, refreshAtGoogle } = await authorized();
    proxy.failRevoke = true;
    try {
      const res = await a.delete(`/v1/connections/${id}`);
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json();
      expect(body).toEqual({
        id,
        deleted: true,
        revocation: { status: "failed", at: expect.any(String), error: { code: "revocation_failed", message: expect.stringContaining("503") } },
      });
      expect(body.revocation.error.message).toMatch(/may still be alive/);
      expect(res.body).not.toContain(refreshToken);
      expect((await a.get(`/v1/connections/${id}`)).statusCode).toBe(404);
      // What the answer says is true: Google still honours the grant.
      expect(await refreshAtGoogle()).toBe(200);
      expect(t.logs.join("")).not.toContain(refreshToken);
      expect(t.logs.some((l) => l.includes("revocation not confirmed"))).toBe(true);
    } finally {
      proxy.failRevoke = false;
    }
  });

  it("answers 204 when Google confirms, and the refresh token is dead", async () => {
    const { a, id, refreshAtGoogle } = await authorized();
    const res = await a.delete(`/v1/connections/${id}`);
    expect(res.statusCode).toBe(204);
    expect(res.body).toBe("");
    expect(await refreshAtGoogle()).toBe(400);
  });
});
