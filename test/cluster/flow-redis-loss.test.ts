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
import { freshPostgresDatabase } from "../support/db.ts";
import { consent, startGoogle, type TestGoogle } from "../support/google.ts";
import { clusterEnv, http, startService, type ServiceProcess } from "../support/cluster.ts";

const MAIL = "https://mail.google.com/";
const RECORDS = 24;

describe.skipIf(!testDatabaseUrl || !testRedisUrl)("a flow run whose process is killed while Redis loses its data", () => {
  let google: TestGoogle;
  let db: Awaited<ReturnType<typeof freshPostgresDatabase>>;
  let env: Record<string, string>;
  let first: ServiceProcess;
  let second: ServiceProcess | undefined;
  let redis: Redis;

  beforeAll(async () => {
    google = await startGoogle();
    db = await freshPostgresDatabase(testDatabaseUrl!);
    env = clusterEnv({ databaseUrl: db.url, redisUrl: testRedisUrl!, google: google.env });
    redis = new Redis(testRedisUrl!);
    first = await startService(env);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([first?.kill(), second?.kill()]);
    if (redis) {
      await wipe(redis, env.REDIS_PREFIX!);
      await redis.quit();
    }
    await db?.drop();
    await google?.close();
  });

  /** Delete every key of this cluster's prefix (never FLUSHALL: the server is shared). */
  async function wipe(r: Redis, prefix: string): Promise<number> {
    let deleted = 0;
    for await (const keys of r.scanStream({ match: `${prefix}*`, count: 500 }) as AsyncIterable<string[]>) {
      if (keys.length) deleted += await r.del(...keys);
    }
    return deleted;
  }

  it("is reconciled by the next process and finished, every record sent once", async () => {
    const call = http(first.url, env.ADMIN_TOKEN!);
    const client = await google.newClient([`${first.url}/oauth2/callback`]);
    const ic = (await call("POST", "/v1/iclients", { name: "ic", application: "gmail", ...client })).body;
    const source = `src-${Date.now()}@example.com`;
    const target = `dst-${Date.now()}@example.com`;
    await google.admin("POST", "/users", { email: source, generate: { count: RECORDS } });
    await google.admin("POST", "/users", { email: target });
    const ids: string[] = [];
    for (const email of [source, target]) {
      const c = await call("POST", "/v1/connections", { name: email, application: "gmail", scopes: [MAIL], iClientId: ic.id, concurrencyLevel: 2 });
      const { authorizeUrl } = (await call("POST", `/v1/connections/${c.body.id}/authorize`)).body;
      expect((await fetch((await consent(authorizeUrl, { email })).redirect)).status).toBe(200);
      ids.push(c.body.id);
    }
    const exported = (await google.admin("GET", `/users/${encodeURIComponent(source)}`)).messages.filter(
      (m: { labelIds: string[] }) => !m.labelIds.includes("SPAM") && !m.labelIds.includes("TRASH"),
    );
    const flow = await call("POST", "/v1/flows", {
      name: "forward",
      source: { connectionId: ids[0], export: { format: "metadata", maxMessages: RECORDS } },
      destinations: [{ connectionId: ids[1], import: { action: "send" } }],
    });
    expect(flow.status, JSON.stringify(flow.body)).toBe(201);

    await google.admin("PUT", "/settings", { latencyMs: 150 });
    const { runId } = (await call("POST", `/v1/flows/${flow.body.id}/run`)).body;
    for (let i = 0; i < 300; i++) {
      if ((await call("GET", `/v1/runs/${runId}`)).body.progress.imported >= 4) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const midway = (await call("GET", `/v1/runs/${runId}`)).body;
    expect(midway.status).toBe("running");
    expect(midway.progress.imported).toBeLessThan(exported.length);

    // The runner dies, Redis loses every key, and (time passing) the dead runner's lease lapses.
    await first.kill("SIGKILL");
    expect(await wipe(redis, env.REDIS_PREFIX!)).toBeGreaterThan(0);
    const sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    try {
      const lapsed = await sql.query("UPDATE flow_runs SET lease_expires_at = now() - interval '1 second' WHERE id = $1 AND status = 'running' RETURNING id", [runId]);
      expect(lapsed.rowCount).toBe(1);
    } finally {
      await sql.end();
    }
    await google.admin("PUT", "/settings", { latencyMs: 0 });

    second = await startService(env);
    const callSecond = http(second.url, env.ADMIN_TOKEN!);
    let run: any;
    for (let i = 0; i < 600; i++) {
      run = (await callSecond("GET", `/v1/runs/${runId}`)).body;
      if (!["queued", "running"].includes(run.status)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(run.status, JSON.stringify(run)).toBe("succeeded");
    expect(run.progress).toMatchObject({ exported: exported.length, imported: exported.length, failed: 0 });
    const sent = (await google.admin("GET", `/users/${encodeURIComponent(target)}`)).messages.filter((m: { labelIds: string[] }) => m.labelIds.includes("SENT"));
    expect(sent.map((m: { subject: string }) => m.subject).sort()).toEqual(exported.map((m: { subject: string }) => `Fwd: ${m.subject}`).sort());
  }, 120_000);
});
