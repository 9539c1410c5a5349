/**
 * The short in-process cache of resolved API tokens and sessions: it answers
 * repeated requests without the store, never outlives its few seconds, ends a
 * session at sign-out at once, and never remembers a token it did not find.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { AccountStore, DEFAULT_AUTH_CACHE_TTL_MS } from "../../server/accounts/account-store.ts";
import { ExpiringCache } from "../../server/accounts/expiring-cache.ts";
import { hashToken } from "../../core/secrets.ts";
import { startTestApp, type TestApp } from "../support/app.ts";

describe("resolved tokens and sessions", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());
  afterEach(() => {
    vi.useRealTimers();
  });

  const me = (headers: Record<string, string>) => t.app.inject({ url: "/v1/me", headers });

  it(`a token deleted in the store stops working within ${DEFAULT_AUTH_CACHE_TTL_MS / 1000} s`, async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const token = await t.newAccount();
    const auth = { authorization: `Bearer ${token}` };
    expect((await me(auth)).statusCode).toBe(200);
    await t.store.db.query("DELETE FROM api_tokens WHERE token_hash = $1", [hashToken(token)]);
    // Still believed for the cache's few seconds (another process's deletion is only seen then)...
    expect((await me(auth)).statusCode).toBe(200);
    vi.advanceTimersByTime(DEFAULT_AUTH_CACHE_TTL_MS);
    // ...and not a moment after.
    expect((await me(auth)).statusCode).toBe(401);
  });

  it("signing out ends the session at once, although it was just resolved", async () => {
    const token = await t.newAccount();
    const signIn = await t.app.inject({ method: "POST", url: "/v1/session", payload: { token } });
    expect(signIn.statusCode).toBe(200);
    const cookie = String(signIn.headers["set-cookie"]).split(";")[0]!;
    expect((await me({ cookie })).statusCode).toBe(200);
    expect((await t.app.inject({ method: "DELETE", url: "/v1/session", headers: { cookie } })).statusCode).toBe(204);
    expect((await me({ cookie })).statusCode).toBe(401);
  });

  it("a token not found is asked again: one created meanwhile (by another process) works at once", async () => {
    const token = `mb_later_${Date.now()}`;
    expect((await me({ authorization: `Bearer ${token}` })).statusCode).toBe(401);
    await new AccountStore(t.store.db).create(`later_${Date.now()}`, { token });
    expect((await me({ authorization: `Bearer ${token}` })).statusCode).toBe(200);
  });
});

describe("ExpiringCache", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("forgets an entry at its TTL or at its own deadline, whichever comes first, and keeps at most its size", () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const cache = new ExpiringCache<number>(1000, 2);
    cache.set("a", 1);
    cache.set("b", 2, Date.now() + 100);
    vi.advanceTimersByTime(100);
    expect(cache.get("b")).toBeUndefined();
    expect(cache.get("a")).toBe(1);
    cache.set("c", 3);
    cache.set("d", 4);
    expect(cache.get("a")).toBeUndefined(); // the oldest went when full
    expect([cache.get("c"), cache.get("d")]).toEqual([3, 4]);
    vi.advanceTimersByTime(1000);
    expect(cache.get("c")).toBeUndefined();
  });

  it("with a TTL of 0 keeps nothing", () => {
    const cache = new ExpiringCache<number>(0, 10);
    cache.set("a", 1);
    expect(cache.get("a")).toBeUndefined();
  });
});
