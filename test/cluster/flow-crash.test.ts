/**
 * A flow run in queue mode survives the death of the process running it: the
 * process is SIGKILLed mid-run, another process takes the run over through
 * BullMQ's stalled-job recovery, and every record lands in the destination
 * mailbox exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabaseUrl, testRedisUrl } from "../support/services.ts";
import { freshPostgresDatabase } from "../support/db.ts";
import { consent, startGoogle, type TestGoogle } from "../support/google.ts";
import { clusterEnv, http, startService, type ServiceProcess } from "../support/cluster.ts";

const MAIL = "https://mail.google.com/";
const RECORDS = 24;

describe.skipIf(!testDatabaseUrl || !testRedisUrl)("a flow run whose process is killed", () => {
  let google: TestGoogle;
  let db: Awaited<ReturnType<typeof freshPostgresDatabase>>;
  let env: Record<string, string>;
  let first: ServiceProcess;
  let second: ServiceProcess | undefined;

  beforeAll(async () => {
    google = await startGoogle();
    db = await freshPostgresDatabase(testDatabaseUrl!);
    env = clusterEnv({ databaseUrl: db.url, redisUrl: testRedisUrl!, google: google.env });
    first = await startService(env);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([first?.kill(), second?.kill()]);
    await db?.drop();
    await google?.close();
  });

  it("is finished by another process, with every record delivered once", async () => {
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
    // What an export lists: everything outside spam and trash.
    const before = (await google.admin("GET", `/users/${encodeURIComponent(source)}`)).messages.filter(
      (m: { labelIds: string[] }) => !m.labelIds.includes("SPAM") && !m.labelIds.includes("TRASH"),
    ).length;
    const flow = await call("POST", "/v1/flows", {
      name: "backup",
      source: { connectionId: ids[0], export: { format: "raw", maxMessages: RECORDS } },
      destinations: [{ connectionId: ids[1], import: { action: "insert" } }],
    });
    expect(flow.status, JSON.stringify(flow.body)).toBe(201);

    // Slow Google down so the run is still going when its process dies.
    await google.admin("PUT", "/settings", { latencyMs: 150 });
    const { runId } = (await call("POST", `/v1/flows/${flow.body.id}/run`)).body;
    for (let i = 0; i < 300; i++) {
      const run = (await call("GET", `/v1/runs/${runId}`)).body;
      if (run.progress.imported >= 4) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const midway = (await call("GET", `/v1/runs/${runId}`)).body;
    expect(midway.status).toBe("running");
    expect(midway.progress.imported).toBeLessThan(before);
    await first.kill("SIGKILL");
    await google.admin("PUT", "/settings", { latencyMs: 0 });

    second = await startService(env);
    const callSecond = http(second.url, env.ADMIN_TOKEN!);
    let run: any;
    // BullMQ notices the dead worker once its 30 s job lock lapses, at its next 30 s stalled check.
    for (let i = 0; i < 300; i++) {
      run = (await callSecond("GET", `/v1/runs/${runId}`)).body;
      if (!["queued", "running"].includes(run.status)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(run.status, JSON.stringify(run)).toBe("succeeded");
    expect(run.progress).toMatchObject({ exported: before, imported: before, failed: 0 });
    // Exactly once: the destination holds the same messages as the exported source, no more, no fewer
    // (compared as multisets of sender and subject, since generated threads repeat subjects).
    const key = (m: { from: string; subject: string }) => `${m.from}|${m.subject}`;
    const exportedMessages = (await google.admin("GET", `/users/${encodeURIComponent(source)}`)).messages.filter(
      (m: { labelIds: string[] }) => !m.labelIds.includes("SPAM") && !m.labelIds.includes("TRASH"),
    );
    const delivered = (await google.admin("GET", `/users/${encodeURIComponent(target)}`)).messages;
    expect(delivered.map(key).sort()).toEqual(exportedMessages.map(key).sort());
  }, 240_000);
});
