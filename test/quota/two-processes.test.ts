/**
 * Two service processes on one Redis share one mailbox's quota (issue 13): each runs a flow
 * reading the same Gmail user through the same iClient, together asking for about twice a
 * minute of the per-user quota the emulator enforces. The budget is counted in Redis across
 * both, so Google (the emulator) refuses none of their calls and every message is archived by
 * both runs. With a budget per process each would spend the whole quota alone, and together
 * they would draw 429s ("Google rate limit" in their logs).
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabaseUrl, testRedisUrl } from "../support/services.ts";
import { connectMailboxes, pollRun, startCluster, type TestCluster } from "../support/cluster.ts";

/** Units a minute the emulator allows per (client, user), and Mailbridge budgets for. */
const QUOTA = 120;
/** Per run: messages.list (5) + a messages.get (5) each: 2 × 65 = 130 units, over a minute's 120. */
const MESSAGES = 12;

describe.skipIf(!testDatabaseUrl || !testRedisUrl)("two processes on one Redis, one mailbox's quota", () => {
  let cluster: TestCluster;
  let sql: pg.Client;

  beforeAll(async () => {
    cluster = await startCluster({
      databaseUrl: testDatabaseUrl!,
      redisUrl: testRedisUrl!,
      processes: 2,
      // One run at a time per process, so the two runs queued together run on both processes.
      env: { GMAIL_USER_QUOTA_UNITS_PER_MINUTE: String(QUOTA), RUN_CONCURRENCY: "1" },
    });
    sql = new pg.Client({ connectionString: cluster.db.url });
    await sql.connect();
  }, 120_000);
  afterAll(async () => {
    await sql?.end();
    await cluster?.close();
  });

  it("stay inside the quota together: Google refuses none of their calls, nothing is lost", { timeout: 240_000 }, async () => {
    const email = `shared-${Date.now()}@example.com`;
    const [source] = await connectMailboxes(cluster, [{ email }]);
    const call = cluster.call(cluster.processes[0]);
    // Messages in the inbox only (a generated mailbox puts some in spam or trash).
    await cluster.google.admin("POST", `/users/${email}/messages`, {
      messages: Array.from({ length: MESSAGES }, (_, i) => ({ raw: Buffer.from(`From: a@example.com\r\nTo: ${email}\r\nSubject: shared ${i}\r\n\r\nbody ${i}\r\n`).toString("base64url") })),
    });
    await cluster.google.admin("PUT", "/settings", { quotaUnitsPerMinute: QUOTA });
    await cluster.google.admin("POST", "/stats/reset");

    const flows: string[] = [];
    for (const name of ["first copy", "second copy"]) {
      const res = await call("POST", "/v1/flows", { name, source: { connectionId: source, export: { format: "metadata", labelIds: ["INBOX"] } }, destinations: [{ application: "archive" }] });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      flows.push(res.body.id);
    }
    const runIds = await Promise.all(flows.map(async (f) => (await call("POST", `/v1/flows/${f}/run`)).body.runId as string));

    // Both processes run one each (seen as two lease owners at once).
    const owners = new Set<string>();
    const deadline = Date.now() + 60_000;
    while (owners.size < 2 && Date.now() < deadline) {
      for (const r of (await sql.query("SELECT lease_owner FROM flow_runs WHERE id = ANY($1) AND status = 'running' AND lease_owner IS NOT NULL", [runIds])).rows) owners.add(r.lease_owner);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(owners.size, "the two runs on two processes").toBe(2);

    for (const runId of runIds) {
      const run = await pollRun(call, runId, (r) => r.status !== "queued" && r.status !== "running", { timeoutMs: 200_000, intervalMs: 200 });
      expect(run.status, JSON.stringify(run.errors)).toBe("succeeded");
      expect(run.progress).toMatchObject({ exported: MESSAGES, imported: MESSAGES, failed: 0 });
    }
    const stats = (await cluster.google.admin("GET", "/stats")).users[email];
    expect(stats.quotaUnits).toBeGreaterThan(QUOTA); // more than a minute's quota was asked for
    const logs = cluster.processes.map((p) => p.output()).join("\n");
    expect(logs).not.toContain("Google rate limit");
  });
});
