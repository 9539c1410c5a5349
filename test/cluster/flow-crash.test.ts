/**
 * A flow run in queue mode survives the death of the process running it: the
 * process is SIGKILLed mid-run, another process takes the run over through
 * BullMQ's stalled-job recovery, and every record lands in the destination
 * mailbox exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabaseUrl, testRedisUrl } from "../support/services.ts";
import { connectMailboxes, ended, exportable, mailbox, pollRun, startCluster, type TestCluster } from "../support/cluster.ts";

const RECORDS = 24;

describe.skipIf(!testDatabaseUrl || !testRedisUrl)("a flow run whose process is killed", () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await startCluster({ databaseUrl: testDatabaseUrl!, redisUrl: testRedisUrl! });
  }, 60_000);

  afterAll(() => cluster?.close());

  it("is finished by another process, with every record delivered once", async () => {
    const { google } = cluster;
    const first = cluster.processes[0]!;
    const call = cluster.call(first);
    const source = `src-${Date.now()}@example.com`;
    const target = `dst-${Date.now()}@example.com`;
    const ids = await connectMailboxes(cluster, [{ email: source, generate: RECORDS }, { email: target }], { concurrencyLevel: 2 });
    const before = (await mailbox(google, source)).filter(exportable).length;
    const flow = await call("POST", "/v1/flows", {
      name: "backup",
      source: { connectionId: ids[0], export: { format: "raw", maxMessages: RECORDS } },
      destinations: [{ connectionId: ids[1], import: { action: "insert" } }],
    });
    expect(flow.status, JSON.stringify(flow.body)).toBe(201);

    // Slow Google down so the run is still going when its process dies.
    await google.admin("PUT", "/settings", { latencyMs: 150 });
    const { runId } = (await call("POST", `/v1/flows/${flow.body.id}/run`)).body;
    const midway = await pollRun(call, runId, (run) => run.progress.imported >= 4, { timeoutMs: 15_000, intervalMs: 50 });
    expect(midway.status).toBe("running");
    expect(midway.progress.imported).toBeLessThan(before);
    await first.kill("SIGKILL");
    await google.admin("PUT", "/settings", { latencyMs: 0 });

    // BullMQ notices the dead worker once its job lock lapses, at its next stalled check.
    const run = await pollRun(cluster.call(await cluster.start()), runId, ended, { timeoutMs: 150_000, intervalMs: 500 });
    expect(run.status, JSON.stringify(run)).toBe("succeeded");
    expect(run.progress).toMatchObject({ exported: before, imported: before, failed: 0 });
    // Exactly once: the destination holds the same messages as the exported source, no more, no fewer
    // (compared as multisets of sender and subject, since generated threads repeat subjects).
    const key = (m: { from: string; subject: string }) => `${m.from}|${m.subject}`;
    const exportedMessages = (await mailbox(google, source)).filter(exportable);
    const delivered = await mailbox(google, target);
    expect(delivered.map(key).sort()).toEqual(exportedMessages.map(key).sort());
  }, 240_000);
});
