/**
 * A real service process (queue mode, PostgreSQL, Redis) SIGKILLed after it acknowledged a
 * push (the hint persisted, the 204 sent) and before the run: Google is slowed down so the
 * process is still reading history when it dies. Another process started afterwards handles
 * the hint it finds and delivers each message once, by a `push` run.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabaseUrl, testRedisUrl } from "../support/services.ts";
import { connectMailboxes, startCluster, type TestCluster } from "../support/cluster.ts";
import { rawMessage } from "../flows/support.ts";
import { until } from "./support.ts";

const TOPIC = "projects/mb-cluster/topics/gmail";
const AUDIENCE = "http://mailbridge.cluster/hooks/gmail";

describe.skipIf(!testDatabaseUrl || !testRedisUrl)("a process killed between a push's 204 and its run", () => {
  let cluster: TestCluster;
  let sql: pg.Client;

  beforeAll(async () => {
    cluster = await startCluster({ databaseUrl: testDatabaseUrl!, redisUrl: testRedisUrl!, env: { GMAIL_PUSH_TOPIC: TOPIC, GMAIL_PUSH_AUDIENCE: AUDIENCE } });
    sql = new pg.Client({ connectionString: cluster.db.url });
    await sql.connect();
  }, 60_000);

  afterAll(async () => {
    await sql?.end();
    await cluster?.close();
  });

  it("leaves a hint the next process handles: each message delivered once", async () => {
    const { google } = cluster;
    const first = cluster.processes[0]!;
    const call = cluster.call(first);
    const source = `push-src-${Date.now()}@example.com`;
    const target = `push-dst-${Date.now()}@example.com`;
    const ids = await connectMailboxes(cluster, [{ email: source }, { email: target }]);
    const flow = await call("POST", "/v1/flows", {
      name: "pushed copy",
      source: { connectionId: ids[0], export: { format: "metadata" } },
      destinations: [{ connectionId: ids[1], import: { action: "insert" } }],
      trigger: { type: "gmail", labelIds: ["INBOX"] },
    });
    expect(flow.status, JSON.stringify(flow.body)).toBe(201);
    expect(flow.body.watch).toMatchObject({ mode: "push", expiresAt: expect.any(String) });
    const flowId = flow.body.id as string;
    // The mailbox poller's first look (at once on enabling) is done before Google slows down: its
    // tick claimed, and nothing of that mailbox's in flight at Google. (Nothing changed, so it writes no cursor.)
    await until(async () => (await sql.query("SELECT 1 FROM gmail_pollers WHERE email = $1 AND last_tick_at IS NOT NULL", [source])).rowCount, "the first poll");
    await until(async () => (await google.admin("GET", "/stats")).users[source]?.inFlight === 0, "the first poll's history.list answered");

    await google.admin("PUT", "/pubsub", { topic: TOPIC, pushEndpoint: `${first.url}/hooks/gmail`, audience: AUDIENCE, minBackoffMs: 200, maxBackoffMs: 1000 });
    await google.admin("PUT", "/settings", { latencyMs: 5000 });
    const subjects = ["before the crash 1", "before the crash 2", "before the crash 3"];
    await google.admin("POST", `/users/${source}/messages`, { messages: subjects.map((subject) => ({ raw: rawMessage({ to: source, subject }) })) });
    await until(async () => (await google.admin("GET", "/pubsub")).acked >= 1, "the push acknowledged");
    await first.kill("SIGKILL"); // reading history.list, 5 s from its answer
    await google.admin("PUT", "/settings", { latencyMs: 0 });
    expect((await sql.query("SELECT email FROM gmail_push_hints")).rows).toEqual([{ email: source }]);
    expect((await sql.query("SELECT id FROM flow_runs WHERE flow_id = $1", [flowId])).rowCount).toBe(0);

    const second = await cluster.start();
    await google.admin("PUT", "/pubsub", { topic: TOPIC, pushEndpoint: `${second.url}/hooks/gmail`, audience: AUDIENCE, minBackoffMs: 200, maxBackoffMs: 1000 });
    const callSecond = cluster.call(second);
    const runs = await until(async () => {
      const items = (await callSecond("GET", `/v1/flows/${flowId}/runs`)).body.items as Array<{ status: string }>;
      return items.length > 0 && items.every((r) => r.status !== "queued" && r.status !== "running") && items;
    }, "the run from the left-over hint", 30_000);
    expect(runs).toEqual([expect.objectContaining({ trigger: "push", status: "succeeded", progress: expect.objectContaining({ exported: 3, imported: 3 }) })]);
    const copied = (await google.admin("GET", `/users/${target}`)).messages.map((m: { subject: string }) => m.subject).sort();
    expect(copied).toEqual(subjects);
    expect((await sql.query("SELECT 1 FROM gmail_push_hints")).rowCount).toBe(0);
  }, 90_000);
});
