/**
 * The token and session cache across a cluster: two apps on one database and one Redis. A
 * sign-out on one ends the session on the other as soon as Redis carries the news, not after
 * the cache's few seconds (the cache's clock is held still here, so only the message can end it).
 */
import { Redis } from "ioredis";
import { afterEach, describe, expect, it, vi } from "vitest";
import { startTestApp, type TestApp } from "../support/app.ts";
import { testRedisUrl, uniqueName } from "../support/services.ts";
import { until } from "../triggers/support.ts";

describe.skipIf(!testRedisUrl)("a sign-out in one process of a cluster", () => {
  const opened: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    vi.useRealTimers();
    for (const o of opened.splice(0).reverse()) await o.close();
  });

  async function twoProcesses(): Promise<[TestApp, TestApp]> {
    const redis = new Redis(testRedisUrl!, { maxRetriesPerRequest: null });
    opened.push({ close: async () => void redis.disconnect() });
    const env = { REDIS_PREFIX: uniqueName("auth") };
    const a = await startTestApp({ env, deps: { redis } });
    opened.push(a);
    const b = await startTestApp({ env, deps: { redis }, store: a.store, secrets: a.secrets });
    opened.push(b);
    return [a, b];
  }

  const me = (t: TestApp, cookie: string) => t.app.inject({ url: "/v1/me", headers: { cookie } });

  it("ends the session on the other process at once, although that process had just resolved it", async () => {
    const [a, b] = await twoProcesses();
    const token = await a.newAccount();
    const signIn = await a.app.inject({ method: "POST", url: "/v1/session", payload: { token } });
    expect(signIn.statusCode).toBe(200);
    const cookie = String(signIn.headers["set-cookie"]).split(";")[0]!;
    expect((await me(b, cookie)).statusCode).toBe(200); // now in b's cache

    vi.useFakeTimers({ toFake: ["Date"] }); // b's cache never runs out on its own from here
    expect((await a.app.inject({ method: "DELETE", url: "/v1/session", headers: { cookie } })).statusCode).toBe(204);
    expect((await me(a, cookie)).statusCode).toBe(401);
    await until(async () => (await me(b, cookie)).statusCode === 401, "the other process to refuse the ended session", 10_000);
  });

  it("a session that was not signed out keeps working on both", async () => {
    const [a, b] = await twoProcesses();
    const signIn = async () => String((await a.app.inject({ method: "POST", url: "/v1/session", payload: { token: await a.newAccount() } })).headers["set-cookie"]).split(";")[0]!;
    const [kept, ended] = [await signIn(), await signIn()];
    expect((await me(b, kept)).statusCode).toBe(200);
    expect((await me(b, ended)).statusCode).toBe(200);
    expect((await a.app.inject({ method: "DELETE", url: "/v1/session", headers: { cookie: ended } })).statusCode).toBe(204);
    await until(async () => (await me(b, ended)).statusCode === 401, "the ended session refused");
    expect((await me(b, kept)).statusCode).toBe(200);
    expect((await me(a, kept)).statusCode).toBe(200);
  });
});
