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
import { freshPostgresDatabase } from "../support/db.ts";
import { consent, startGoogle, type TestGoogle } from "../support/google.ts";
import { clusterEnv, http, startService, type ServiceProcess } from "../support/cluster.ts";
import { readMbox } from "../../connector/mbox.ts";

const MAIL = "https://mail.google.com/";
const COUNT = 1100; // three pages of Gmail's listing, eleven of an archive read back

describe.skipIf(!testDatabaseUrl || !testRedisUrl)("a backup and a restore whose process is killed", () => {
  let google: TestGoogle;
  let db: Awaited<ReturnType<typeof freshPostgresDatabase>>;
  let env: Record<string, string>;
  let archiveDir: string;
  const processes: ServiceProcess[] = [];

  beforeAll(async () => {
    google = await startGoogle();
    db = await freshPostgresDatabase(testDatabaseUrl!);
    archiveDir = await mkdtemp(path.join(os.tmpdir(), "mb-archives-"));
    env = { ...clusterEnv({ databaseUrl: db.url, redisUrl: testRedisUrl!, google: google.env }), ARCHIVE_DIR: archiveDir };
    processes.push(await startService(env));
    // 1,100 imports are over the emulator's per-user minute: lifted, so only the kills interrupt.
    await google.admin("PUT", "/settings", { quotaUnitsPerMinute: 10_000_000 });
  }, 60_000);

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.kill()));
    await db?.drop();
    await google?.close();
    await rm(archiveDir, { recursive: true, force: true });
  });

  /** Start the run, SIGKILL its process once `midway` holds, and let a new process finish it. */
  async function runThroughCrash(flowId: string, midway: (p: { exported: number; imported: number }) => boolean): Promise<any> {
    const first = processes[processes.length - 1]!;
    const call = http(first.url, env.ADMIN_TOKEN!);
    await google.admin("PUT", "/settings", { latencyMs: 40 });
    const { runId } = (await call("POST", `/v1/flows/${flowId}/run`)).body;
    let run: any;
    for (let i = 0; i < 1200; i++) {
      run = (await call("GET", `/v1/runs/${runId}`)).body;
      if (run.status !== "queued" && midway(run.progress)) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(run.status, JSON.stringify(run)).toBe("running");
    await first.kill("SIGKILL");
    await google.admin("PUT", "/settings", { latencyMs: 0 });
    const next = await startService(env);
    processes.push(next);
    const callNext = http(next.url, env.ADMIN_TOKEN!);
    for (let i = 0; i < 300; i++) {
      run = (await callNext("GET", `/v1/runs/${runId}`)).body;
      if (!["queued", "running"].includes(run.status)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(run.status, JSON.stringify(run)).toBe("succeeded");
    return run;
  }

  it("finishes both on another process: every message archived once and restored once", async () => {
    let call = http(processes[0]!.url, env.ADMIN_TOKEN!);
    const client = await google.newClient([`${processes[0]!.url}/oauth2/callback`]);
    const ic = (await call("POST", "/v1/iclients", { name: "ic", application: "gmail", ...client })).body;
    const source = `src-${Date.now()}@example.com`;
    const target = `dst-${Date.now()}@example.com`;
    await google.admin("POST", "/users", { email: source, generate: { count: COUNT } });
    await google.admin("POST", "/users", { email: target });
    const ids: string[] = [];
    for (const email of [source, target]) {
      const c = await call("POST", "/v1/connections", { name: email, application: "gmail", scopes: [MAIL], iClientId: ic.id, concurrencyLevel: 2 });
      const { authorizeUrl } = (await call("POST", `/v1/connections/${c.body.id}/authorize`)).body;
      expect((await fetch((await consent(authorizeUrl, { email })).redirect)).status).toBe(200);
      ids.push(c.body.id);
    }
    const key = (m: { from: string; subject: string }) => `${m.from}|${m.subject}`;
    const original = (await google.admin("GET", `/users/${encodeURIComponent(source)}`)).messages.map(key).sort();
    expect(original).toHaveLength(COUNT);

    // Backup, killed in its second page (the first one's position saved).
    const backup = await call("POST", "/v1/flows", { name: "backup", source: { connectionId: ids[0], export: { format: "raw" } }, destinations: [{ application: "archive" }] });
    expect(backup.status, JSON.stringify(backup.body)).toBe(201);
    const backedUp = await runThroughCrash(backup.body.id, (p) => p.exported >= 650);
    expect(backedUp.progress).toEqual({ exported: COUNT, imported: COUNT, failed: 0 });
    call = http(processes[processes.length - 1]!.url, env.ADMIN_TOKEN!);
    const res = await fetch(`${processes[processes.length - 1]!.url}/v1/runs/${backedUp.id}/archive`, { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } });
    expect(res.status).toBe(200);
    const bytes = Buffer.from(await res.arrayBuffer());
    const archived: string[] = [];
    for await (const m of readMbox(Readable.from([bytes]))) {
      const head = m.raw.subarray(0, m.raw.indexOf("\r\n\r\n")).toString("utf8");
      archived.push(/^Message-ID:\s*(\S+)/im.exec(head)![1]!);
    }
    expect(archived).toHaveLength(COUNT);
    expect(new Set(archived).size).toBe(COUNT);
    const pgc = new pg.Client({ connectionString: db.url });
    await pgc.connect();
    const { rows } = await pgc.query<{ attempts: number }>("SELECT attempts FROM flow_runs WHERE id = $1", [backedUp.id]).finally(() => pgc.end());
    expect(rows[0]!.attempts).toBeGreaterThan(1);

    // Restore of that archive, killed after its first pages.
    const archive = (await call("GET", "/v1/archives")).body.items.find((a: any) => a.runId === backedUp.id);
    const restore = await call("POST", "/v1/flows", { name: "restore", source: { application: "archive", archiveId: archive.id }, destinations: [{ connectionId: ids[1], import: { action: "import" } }] });
    expect(restore.status, JSON.stringify(restore.body)).toBe(201);
    const restored = await runThroughCrash(restore.body.id, (p) => p.imported >= 250);
    expect(restored.progress).toEqual({ exported: COUNT, imported: COUNT, failed: 0 });
    const delivered = (await google.admin("GET", `/users/${encodeURIComponent(target)}`)).messages.map(key).sort();
    expect(delivered).toEqual(original);
  }, 280_000);
});
