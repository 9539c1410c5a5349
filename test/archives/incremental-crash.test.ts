/**
 * An incremental backup whose process is SIGKILLed mid-run resumes from its checkpointed
 * position, like a full one (issue 11): queue mode on PostgreSQL and Redis, the run taken over by
 * another process sharing ARCHIVE_DIR. The run's archive holds every message added since the
 * last backup once, the new process fetches only what was not finished (not the whole run again),
 * and the next run starts from the historyId the interrupted run collected.
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
const FIRST = 10; // the full first backup
const ADDED = 1100; // the incremental one: three pages of candidates

describe.skipIf(!testDatabaseUrl || !testRedisUrl)("an incremental backup whose process is killed", () => {
  let google: TestGoogle;
  let db: Awaited<ReturnType<typeof freshPostgresDatabase>>;
  let env: Record<string, string>;
  let archiveDir: string;
  const processes: ServiceProcess[] = [];
  const latest = () => processes[processes.length - 1]!;

  beforeAll(async () => {
    google = await startGoogle();
    db = await freshPostgresDatabase(testDatabaseUrl!);
    archiveDir = await mkdtemp(path.join(os.tmpdir(), "mb-archives-inc-"));
    env = { ...clusterEnv({ databaseUrl: db.url, redisUrl: testRedisUrl!, google: google.env }), ARCHIVE_DIR: archiveDir };
    processes.push(await startService(env));
    // Over a thousand gets are over the emulator's per-user minute: lifted, so only the kill interrupts.
    await google.admin("PUT", "/settings", { quotaUnitsPerMinute: 10_000_000 });
  }, 60_000);

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.kill()));
    await db?.drop();
    await google?.close();
    if (archiveDir) await rm(archiveDir, { recursive: true, force: true });
  });

  async function until(call: ReturnType<typeof http>, runId: string, done: (run: any) => boolean, tries: number, everyMs: number): Promise<any> {
    let run: any;
    for (let i = 0; i < tries; i++) {
      run = (await call("GET", `/v1/runs/${runId}`)).body;
      if (done(run)) return run;
      await new Promise((r) => setTimeout(r, everyMs));
    }
    return run;
  }

  async function archivedMessageIds(runId: string): Promise<string[]> {
    const res = await fetch(`${latest().url}/v1/runs/${runId}/archive`, { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } });
    expect(res.status).toBe(200);
    const out: string[] = [];
    for await (const m of readMbox(Readable.from([Buffer.from(await res.arrayBuffer())]))) {
      const head = m.raw.subarray(0, m.raw.indexOf("\r\n\r\n")).toString("utf8");
      out.push(/^Message-ID:\s*(\S+)/im.exec(head)![1]!);
    }
    return out;
  }

  it("resumes from its last page on another process: every added message archived once, the rest not fetched again", async () => {
    let call = http(latest().url, env.ADMIN_TOKEN!);
    const client = await google.newClient([`${latest().url}/oauth2/callback`]);
    const ic = (await call("POST", "/v1/iclients", { name: "ic", application: "gmail", ...client })).body;
    const email = `inc-${Date.now()}@example.com`;
    await google.admin("POST", "/users", { email, generate: { count: FIRST } });
    const con = await call("POST", "/v1/connections", { name: email, application: "gmail", scopes: [MAIL], iClientId: ic.id, concurrencyLevel: 2 });
    const { authorizeUrl } = (await call("POST", `/v1/connections/${con.body.id}/authorize`)).body;
    expect((await fetch((await consent(authorizeUrl, { email })).redirect)).status).toBe(200);
    const messageIds = async () => {
      const box = await google.admin("GET", `/users/${encodeURIComponent(email)}`);
      return new Set<string>(box.messages.map((m: { id: string }) => m.id));
    };

    const flow = await call("POST", "/v1/flows", { name: "nightly", source: { connectionId: con.body.id, export: { format: "raw", incremental: true } }, destinations: [{ application: "archive" }] });
    expect(flow.status, JSON.stringify(flow.body)).toBe(201);
    const runOnce = async () => {
      const { runId } = (await call("POST", `/v1/flows/${flow.body.id}/run`)).body;
      return until(call, runId, (r) => !["queued", "running"].includes(r.status), 600, 100);
    };
    // The first run has no checkpoint: it backs up the whole mailbox and records one.
    const first = await runOnce();
    expect(first).toMatchObject({ status: "succeeded", progress: { exported: FIRST, imported: FIRST, failed: 0 } });
    const before = await messageIds();
    const firstArchived = new Set(await archivedMessageIds(first.id));
    expect(firstArchived.size).toBe(FIRST);

    await google.admin("POST", "/users", { email, generate: { count: ADDED } });
    const added = [...(await messageIds())].filter((id) => !before.has(id));
    expect(added).toHaveLength(ADDED);

    // The incremental run, killed in its second page (the first page's position saved).
    await google.admin("PUT", "/settings", { latencyMs: 40 });
    const { runId } = (await call("POST", `/v1/flows/${flow.body.id}/run`)).body;
    const midway = await until(call, runId, (r) => r.status === "running" && r.progress.exported >= 650, 2400, 25);
    expect(midway.status, JSON.stringify(midway)).toBe("running");
    await latest().kill("SIGKILL");
    await google.admin("POST", "/stats/reset");
    await google.admin("PUT", "/settings", { latencyMs: 0 });
    processes.push(await startService(env));
    call = http(latest().url, env.ADMIN_TOKEN!);
    const done = await until(call, runId, (r) => !["queued", "running"].includes(r.status), 300, 500);
    expect(done.status, JSON.stringify(done)).toBe("succeeded");
    expect(done.progress).toEqual({ exported: ADDED, imported: ADDED, failed: 0 });

    // Resumed, not started again: the new process fetched the pages after the first (600
    // messages), not all 1,100 (plus a few calls: labels, tokens).
    const stats = (await google.admin("GET", "/stats")).users[email];
    expect(stats.requests).toBeLessThan(ADDED - 300);
    expect(stats.requests).toBeGreaterThanOrEqual(ADDED - 500);

    // Every added message archived once, and none of the first backup's.
    const archived = await archivedMessageIds(runId);
    expect(archived).toHaveLength(ADDED);
    expect(new Set(archived).size).toBe(ADDED);
    expect(archived.filter((id) => firstArchived.has(id))).toEqual([]);
    const pgc = new pg.Client({ connectionString: db.url });
    await pgc.connect();
    try {
      const { rows } = await pgc.query<{ attempts: number }>("SELECT attempts FROM flow_runs WHERE id = $1", [runId]);
      expect(rows[0]!.attempts).toBeGreaterThan(1);
      expect((await pgc.query("SELECT 1 FROM run_candidates WHERE run_id = $1", [runId])).rows).toEqual([]);
      const { rows: archives } = await pgc.query<{ status: string; message_count: string }>("SELECT status, message_count FROM archives WHERE run_id = $1", [runId]);
      expect(archives).toEqual([{ status: "complete", message_count: String(ADDED) }]);
    } finally {
      await pgc.end();
    }

    // The checkpoint the interrupted run collected holds: nothing new, nothing exported.
    const third = await runOnce();
    expect(third).toMatchObject({ status: "succeeded", progress: { exported: 0, imported: 0, failed: 0 } });
  }, 280_000);
});
