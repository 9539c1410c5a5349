/**
 * Issue 6 and 5 across real processes: two service processes on one
 * PostgreSQL and one Redis share each pool's limit (the emulator counts what
 * is really in flight), one refresh happens per connection across both, and a
 * SIGKILLed process's slots come back.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabaseUrl, testRedisUrl } from "../support/services.ts";
import { consent } from "../support/google.ts";
import { http, startCluster, type ServiceProcess, type TestCluster } from "../support/cluster.ts";

const READONLY = "https://www.googleapis.com/auth/gmail.readonly";

describe.skipIf(!testDatabaseUrl || !testRedisUrl)("a cluster of two service processes", () => {
  let cluster: TestCluster;
  let google: TestCluster["google"];
  let a: ServiceProcess;
  let b: ServiceProcess;
  let env: Record<string, string>;
  let user: string;
  let lender: string;
  let borrowers: string[];

  const stats = async () => (await google.admin("GET", "/stats")).users[user];

  beforeAll(async () => {
    cluster = await startCluster({ databaseUrl: testDatabaseUrl!, redisUrl: testRedisUrl!, processes: 2 });
    ({ google, env } = cluster);
    [a, b] = cluster.processes as [ServiceProcess, ServiceProcess];
    user = await google.newUser();
    const client = await google.newClient([`${a.url}/oauth2/callback`, `${b.url}/oauth2/callback`]);
    const callA = http(a.url, env.ADMIN_TOKEN!);
    const ic = await callA("POST", "/v1/iclients", { name: "shared", application: "gmail", ...client });
    expect(ic.status).toBe(201);
    const make = async (name: string, extra: object) => {
      const res = await callA("POST", "/v1/connections", { name, application: "gmail", scopes: [READONLY], iClientId: ic.body.id, ...extra });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.id as string;
    };
    lender = await make("lender", { concurrencyLevel: 3 });
    borrowers = [await make("borrower-1", { borrowConcurrencyFrom: lender }), await make("borrower-2", { borrowConcurrencyFrom: lender })];
    // Short-lived access tokens at first, so the first calls must refresh.
    await google.admin("PUT", "/settings", { accessTokenTtlSeconds: 30 });
    for (const id of [lender, ...borrowers]) {
      const { authorizeUrl } = (await callA("POST", `/v1/connections/${id}/authorize`)).body;
      const { redirect } = await consent(authorizeUrl, { email: user });
      const done = await fetch(redirect);
      expect(done.status).toBe(200);
    }
    await google.admin("PUT", "/settings", { accessTokenTtlSeconds: 3599 });
  }, 90_000);

  afterAll(() => cluster?.close());

  it("refreshes each expired token exactly once across both processes", async () => {
    await google.admin("POST", "/stats/reset");
    const calls = [a, b].flatMap((p) =>
      Array.from({ length: 10 }, () => http(p.url, env.ADMIN_TOKEN!)("POST", `/v1/connections/${lender}/test`)),
    );
    const results = await Promise.all(calls);
    expect(results.map((r) => r.body)).toEqual(results.map(() => ({ ok: true, email: user })));
    expect((await stats()).refreshes).toBe(1);
  });

  it("never lets more than the lender's level be in flight for the lender and its borrowers together", async () => {
    await google.admin("PUT", "/settings", { latencyMs: 40 });
    await google.admin("POST", "/stats/reset");
    const ids = [lender, ...borrowers];
    const calls = Array.from({ length: 60 }, (_, i) =>
      http((i % 2 ? a : b).url, env.ADMIN_TOKEN!)("POST", `/v1/connections/${ids[i % 3]}/test`),
    );
    const results = await Promise.all(calls);
    expect(results.every((r) => r.body.ok === true)).toBe(true);
    const s = await stats();
    expect(s.requests).toBe(60);
    expect(s.maxInFlight).toBe(3);
  }, 60_000);

  it("gives back the slots of a SIGKILLed process within 30 s", async () => {
    await google.admin("PUT", "/settings", { latencyMs: 1500 });
    const callA = http(a.url, env.ADMIN_TOKEN!);
    const callB = http(b.url, env.ADMIN_TOKEN!);
    // A takes all three slots, then dies holding them.
    const doomed = [1, 2, 3].map(() => callA("POST", `/v1/connections/${lender}/test`).catch(() => undefined));
    for (let i = 0; i < 100 && ((await stats())?.inFlight ?? 0) < 3; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await stats()).inFlight).toBe(3);
    await a.kill("SIGKILL");
    await Promise.all(doomed);
    await google.admin("PUT", "/settings", { latencyMs: 0 });
    const started = Date.now();
    const results = await Promise.all([1, 2, 3].map(() => callB("POST", `/v1/connections/${borrowers[0]}/test`)));
    const waited = Date.now() - started;
    expect(results.map((r) => r.body)).toEqual(results.map(() => ({ ok: true, email: user })));
    expect(waited).toBeLessThan(30_000);
  }, 60_000);
});
