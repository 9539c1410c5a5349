/**
 * Redis losing everything loses no run: the process running a flow is
 * SIGKILLed, Redis loses every key of the cluster (a restart without
 * persistence), and the run's lease lapses. The next process to start finds
 * the run `running` in PostgreSQL with no job and no live lease, queues it
 * again (reconciliation) and finishes it from its deliveries ledger: every
 * record sent exactly once.
 */
import { Redis } from "ioredis";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabaseUrl, testRedisUrl } from "../support/services.ts";
import { connectMailboxes, ended, exportable, mailbox, pollRun, startCluster, wipeRedisPrefix, type TestCluster } from "../support/cluster.ts";

const RECORDS = 24;

describe.skipIf(!testDatabaseUrl || !testRedisUrl)("a flow run whose process is killed while Redis loses its data", () => {
  let cluster: TestCluster;
  let redis: Redis;

  beforeAll(async () => {
    redis = new Redis(testRedisUrl!);
    cluster = await startCluster({ databaseUrl: testDatabaseUrl!, redisUrl: testRedisUrl! });
  }, 60_000);

  afterAll(async () => {
    await cluster?.close();
    await redis?.quit();
  });

  it("is reconciled by the next process and finished, every record sent once", async () => {
    const { google, env } = cluster;
    const first = cluster.processes[0]!;
    const call = cluster.call(first);
    const source = `src-${Date.now()}@example.com`;
    const target = `dst-${Date.now()}@example.com`;
    const ids = await connectMailboxes(cluster, [{ email: source, generate: RECORDS }, { email: target }], { concurrencyLevel: 2 });
    const exported = (await mailbox(google, source)).filter(exportable);
    const flow = await call("POST", "/v1/flows", {
      name: "forward",
      source: { connectionId: ids[0], export: { format: "metadata", maxMessages: RECORDS } },
      destinations: [{ connectionId: ids[1], import: { action: "send" } }],
    });
    expect(flow.status, JSON.stringify(flow.body)).toBe(201);

    await google.admin("PUT", "/settings", { latencyMs: 150 });
    const { runId } = (await call("POST", `/v1/flows/${flow.body.id}/run`)).body;
    const midway = await pollRun(call, runId, (run) => run.progress.imported >= 4, { timeoutMs: 15_000, intervalMs: 50 });
    expect(midway.status).toBe("running");
    expect(midway.progress.imported).toBeLessThan(exported.length);

    // The runner dies, Redis loses every key, and (time passing) the dead runner's lease lapses.
    await first.kill("SIGKILL");
    expect(await wipeRedisPrefix(redis, env.REDIS_PREFIX!)).toBeGreaterThan(0);
    const sql = new pg.Client({ connectionString: cluster.db.url });
    await sql.connect();
    try {
      const lapsed = await sql.query("UPDATE flow_runs SET lease_expires_at = now() - interval '1 second' WHERE id = $1 AND status = 'running' RETURNING id", [runId]);
      expect(lapsed.rowCount).toBe(1);
    } finally {
      await sql.end();
    }
    await google.admin("PUT", "/settings", { latencyMs: 0 });

    const run = await pollRun(cluster.call(await cluster.start()), runId, ended, { timeoutMs: 60_000, intervalMs: 100 });
    expect(run.status, JSON.stringify(run)).toBe("succeeded");
    expect(run.progress).toMatchObject({ exported: exported.length, imported: exported.length, failed: 0 });
    const sent = (await mailbox(google, target)).filter((m) => m.labelIds.includes("SENT"));
    expect(sent.map((m) => m.subject).sort()).toEqual(exported.map((m) => `Fwd: ${m.subject}`).sort());
  }, 120_000);
});
