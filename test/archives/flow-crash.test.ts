/**
 * A backup and a restore in queue mode survive the death of the process running them (issue 11):
 * each process is SIGKILLed mid-run after the run saved a position, another process sharing
 * ARCHIVE_DIR takes the run over, and the archive holds every message of the mailbox once, and
 * the mailbox it is restored into receives every one once.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabaseUrl, testRedisUrl } from "../support/services.ts";
import { connectMailboxes, ended, mailbox, pollRun, startCluster, type TestCluster } from "../support/cluster.ts";
import { readMbox } from "../../connector/mbox.ts";

const COUNT = 1100; // three pages of Gmail's listing, eleven of an archive read back

describe.skipIf(!testDatabaseUrl || !testRedisUrl)("a backup and a restore whose process is killed", () => {
  let cluster: TestCluster;
  let archiveDir: string;

  beforeAll(async () => {
    archiveDir = await mkdtemp(path.join(os.tmpdir(), "mb-archives-"));
    cluster = await startCluster({ databaseUrl: testDatabaseUrl!, redisUrl: testRedisUrl!, env: { ARCHIVE_DIR: archiveDir } });
    // 1,100 imports are over the emulator's per-user minute: lifted, so only the kills interrupt.
    await cluster.google.admin("PUT", "/settings", { quotaUnitsPerMinute: 10_000_000 });
  }, 60_000);

  afterAll(async () => {
    await cluster?.close();
    await rm(archiveDir, { recursive: true, force: true });
  });

  /** Start the run, SIGKILL its process once `midway` holds, and let a new process finish it. */
  async function runThroughCrash(flowId: string, midway: (p: { exported: number; imported: number }) => boolean): Promise<any> {
    const { google } = cluster;
    const first = cluster.processes.at(-1)!;
    const call = cluster.call(first);
    await google.admin("PUT", "/settings", { latencyMs: 40 });
    const { runId } = (await call("POST", `/v1/flows/${flowId}/run`)).body;
    let run = await pollRun(call, runId, (r) => r.status !== "queued" && midway(r.progress), { timeoutMs: 30_000, intervalMs: 25 });
    expect(run.status, JSON.stringify(run)).toBe("running");
    await first.kill("SIGKILL");
    await google.admin("PUT", "/settings", { latencyMs: 0 });
    run = await pollRun(cluster.call(await cluster.start()), runId, ended, { timeoutMs: 150_000, intervalMs: 500 });
    expect(run.status, JSON.stringify(run)).toBe("succeeded");
    return run;
  }

  it("finishes both on another process: every message archived once and restored once", async () => {
    const { google, env } = cluster;
    let call = cluster.call();
    const source = `src-${Date.now()}@example.com`;
    const target = `dst-${Date.now()}@example.com`;
    const ids = await connectMailboxes(cluster, [{ email: source, generate: COUNT }, { email: target }], { concurrencyLevel: 2 });
    const key = (m: { from: string; subject: string }) => `${m.from}|${m.subject}`;
    const original = (await mailbox(google, source)).map(key).sort();
    expect(original).toHaveLength(COUNT);

    // Backup, killed in its second page (the first one's position saved).
    const backup = await call("POST", "/v1/flows", { name: "backup", source: { connectionId: ids[0], export: { format: "raw" } }, destinations: [{ application: "archive" }] });
    expect(backup.status, JSON.stringify(backup.body)).toBe(201);
    const backedUp = await runThroughCrash(backup.body.id, (p) => p.exported >= 650);
    expect(backedUp.progress).toEqual({ exported: COUNT, imported: COUNT, failed: 0 });
    call = cluster.call();
    const res = await fetch(`${cluster.processes.at(-1)!.url}/v1/runs/${backedUp.id}/archive`, { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } });
    expect(res.status).toBe(200);
    const bytes = Buffer.from(await res.arrayBuffer());
    const archived: string[] = [];
    for await (const m of readMbox(Readable.from([bytes]))) {
      const head = m.raw.subarray(0, m.raw.indexOf("\r\n\r\n")).toString("utf8");
      archived.push(/^Message-ID:\s*(\S+)/im.exec(head)![1]!);
    }
    expect(archived).toHaveLength(COUNT);
    expect(new Set(archived).size).toBe(COUNT);
    const pgc = new pg.Client({ connectionString: cluster.db.url });
    await pgc.connect();
    const { rows } = await pgc.query<{ attempts: number }>("SELECT attempts FROM flow_runs WHERE id = $1", [backedUp.id]).finally(() => pgc.end());
    expect(rows[0]!.attempts).toBeGreaterThan(1);

    // Restore of that archive, killed after its first pages.
    const archive = (await call("GET", "/v1/archives")).body.items.find((a: any) => a.runId === backedUp.id);
    const restore = await call("POST", "/v1/flows", { name: "restore", source: { application: "archive", archiveId: archive.id }, destinations: [{ connectionId: ids[1], import: { action: "import" } }] });
    expect(restore.status, JSON.stringify(restore.body)).toBe(201);
    const restored = await runThroughCrash(restore.body.id, (p) => p.imported >= 250);
    expect(restored.progress).toEqual({ exported: COUNT, imported: COUNT, failed: 0 });
    const delivered = (await mailbox(google, target)).map(key).sort();
    expect(delivered).toEqual(original);
  }, 280_000);
});
