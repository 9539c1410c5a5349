/**
 * Queue mode: runs go through BullMQ on Redis with PostgreSQL as the store.
 * Two service processes share them; a run whose process stops mid-way is
 * taken up by the other, and no record is sent twice.
 */
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, startTestApp, type TestApp } from "../support/app.ts";
import { postgresBackend, type TestDb } from "../support/db.ts";
import { testDatabaseUrl, testRedisUrl, uniqueName } from "../support/services.ts";
import { flowWorld, PUBLIC_URL, type FlowWorld } from "./support.ts";

describe.skipIf(!testDatabaseUrl || !testRedisUrl)("flows in queue mode (PostgreSQL, Redis/BullMQ)", () => {
  const prefix = uniqueName("mbflows");
  const redisClients: Redis[] = [];
  const queueEnv = () => ({ REDIS_URL: testRedisUrl!, REDIS_PREFIX: prefix });
  let w: FlowWorld;
  let store: TestDb;

  const second = async (): Promise<TestApp> => {
    const redis = new Redis(testRedisUrl!);
    redisClients.push(redis);
    return startTestApp({ store, secrets: w.t.secrets, env: { PUBLIC_URL, ...w.google.env, ...queueEnv() }, deps: { redis } });
  };

  beforeAll(async () => {
    const redis = new Redis(testRedisUrl!);
    redisClients.push(redis);
    // Progress saved every 100 ms: the blip test waits for a run's progress to show before its blip.
    w = await flowWorld({ backend: postgresBackend!, env: queueEnv(), deps: { redis, flows: { retry: { attempts: 30, baseMs: 20, maxMs: 200 }, progressIntervalMs: 100 } } });
    store = w.t.store;
  });
  afterAll(async () => {
    await w?.close();
    const admin = new Redis(testRedisUrl!);
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length) await admin.del(...keys);
    await admin.quit();
    for (const r of redisClients) await r.quit();
  });

  it("runs a flow through BullMQ, one run per flow at a time", async () => {
    const src = await w.mailbox({ generate: 30 });
    const dst = await w.mailbox();
    const flowId = await w.flow({ source: { connectionId: src.connectionId, export: { maxMessages: 10 } }, destinations: [{ connectionId: dst.connectionId, import: { action: "import" } }] });
    const started = await w.a.post(`/v1/flows/${flowId}/run`);
    expect((await w.a.post(`/v1/flows/${flowId}/run`)).statusCode).toBe(409);
    const run = await w.waitRun(started.json().runId);
    expect(run.status).toBe("succeeded");
    expect(run.progress.exported).toBeGreaterThan(0);
    expect((await w.user(dst.email)).messages).toHaveLength(run.progress.exported);
  });

  it("hands a run whose process stopped to another process, without sending anything twice", async () => {
    const src = await w.mailbox({ generate: 40 });
    const dst = await w.mailbox();
    const flowId = await w.flow({ source: { connectionId: src.connectionId, export: { format: "metadata", maxMessages: 40 } }, destinations: [{ connectionId: dst.connectionId, import: { action: "send" } }] });
    await w.google.admin("PUT", "/settings", { latencyMs: 30 });
    const a = await second();
    // Process a takes the run (it is the only one with a worker besides w, which we watch)...
    const { runId } = (await api(a.app, w.t.adminToken).post(`/v1/flows/${flowId}/run`)).json();
    for (;;) {
      const r = (await w.a.get(`/v1/runs/${runId}`)).json();
      if (r.progress.imported >= 3) break;
      await new Promise((res) => setTimeout(res, 10));
    }
    // ...and stops mid-way. Whichever process held it, the other one finishes it.
    await a.close();
    await w.google.admin("PUT", "/settings", { latencyMs: 0 });
    const run = await w.waitRun(runId);
    const listed = (await w.user(src.email)).messages.filter((m) => !m.labelIds.some((l) => l === "SPAM" || l === "TRASH")).length;
    expect(run).toMatchObject({ status: "succeeded", progress: { exported: listed, imported: listed, failed: 0 } });
    // One sent message per source record: Google saw each send once.
    const sent = (await w.user(dst.email)).messages.filter((m) => m.labelIds.includes("SENT"));
    expect(sent).toHaveLength(listed);
    const rows = await store.db.query("SELECT count(*)::int AS n FROM flow_deliveries WHERE flow_id = $1 AND status = 'done'", [flowId]);
    expect(rows[0]!.n).toBe(listed);
  });

  it("retries a run through Google answering 503 to 20 % of calls (BullMQ attempts with backoff), every record sent once", async () => {
    const src = await w.mailbox({ generate: 30 });
    const dst = await w.mailbox();
    const flowId = await w.flow({ source: { connectionId: src.connectionId, export: { format: "metadata", maxMessages: 100 } }, destinations: [{ connectionId: dst.connectionId, import: { action: "send" } }] });
    const records = (await w.user(src.email)).messages.filter((m) => !m.labelIds.some((l) => l === "SPAM" || l === "TRASH"));
    await w.google.admin("PUT", "/settings", { faults: { status: 503, rate: 0.2 } });
    let run;
    try {
      run = await w.run(flowId);
    } finally {
      await w.google.admin("PUT", "/settings", { faults: null });
    }
    expect(run).toMatchObject({ status: "succeeded", progress: { exported: records.length, imported: records.length, failed: 0 }, errors: [] });
    const sent = (await w.user(dst.email)).messages.filter((m) => m.labelIds.includes("SENT"));
    expect(sent.map((m) => m.subject).sort()).toEqual(records.map((m) => `Fwd: ${m.subject}`).sort());
    const [row] = await store.db.query<{ attempts: number }>("SELECT attempts FROM flow_runs WHERE id = $1", [run.id]);
    expect(row!.attempts).toBeGreaterThan(1);
  });

  it("finishes a run through PostgreSQL dropping every connection mid-run, every record sent once", async () => {
    const src = await w.mailbox({ generate: 30 });
    const dst = await w.mailbox();
    const flowId = await w.flow({ source: { connectionId: src.connectionId, export: { format: "metadata", maxMessages: 100 } }, destinations: [{ connectionId: dst.connectionId, import: { action: "send" } }] });
    const records = (await w.user(src.email)).messages.filter((m) => !m.labelIds.some((l) => l === "SPAM" || l === "TRASH"));
    await w.google.admin("PUT", "/settings", { latencyMs: 40 });
    const { runId } = (await w.a.post(`/v1/flows/${flowId}/run`)).json();
    for (;;) {
      if ((await w.a.get(`/v1/runs/${runId}`)).json().progress.imported >= 3) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    // The blip: every backend of this database is terminated, three times over (as a restart does).
    const admin = new pg.Client({ connectionString: testDatabaseUrl });
    await admin.connect();
    try {
      const database = new URL(store.databaseUrl!).pathname.slice(1);
      for (let i = 0; i < 3; i++) {
        const killed = await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", [database]);
        expect(killed.rowCount).toBeGreaterThan(0);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await admin.end();
    }
    await w.google.admin("PUT", "/settings", { latencyMs: 0 });
    const run = await w.waitRun(runId);
    expect(run).toMatchObject({ status: "succeeded", progress: { exported: records.length, imported: records.length, failed: 0 }, errors: [] });
    const sent = (await w.user(dst.email)).messages.filter((m) => m.labelIds.includes("SENT"));
    expect(sent.map((m) => m.subject).sort()).toEqual(records.map((m) => `Fwd: ${m.subject}`).sort());
  });
});
