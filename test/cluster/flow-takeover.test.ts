/**
 * Two service processes share flow runs. The process holding a run's lease
 * is SIGKILLed: the other takes the run over within about 15 s (BullMQ's
 * 10 s job lock and 5 s stalled check, the run's 10 s lease). Then the holder
 * of another run is frozen with SIGSTOP past its lease, the other process
 * takes that run over, and the frozen one is resumed with SIGCONT: it stops
 * before its next send. Both runs deliver every record exactly once.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabaseUrl, testRedisUrl } from "../support/services.ts";
import { connectMailboxes, ended, exportable, mailbox as mailboxOf, pollRun, startCluster, type ServiceProcess, type TestCluster } from "../support/cluster.ts";

const RECORDS = 30;

describe.skipIf(!testDatabaseUrl || !testRedisUrl)("a run whose runner dies or freezes", () => {
  let cluster: TestCluster;
  let google: TestCluster["google"];
  let sql: pg.Client;
  let procs: ServiceProcess[];
  let source: string;
  let connections: string[];
  const emails: string[] = [];

  beforeAll(async () => {
    cluster = await startCluster({ databaseUrl: testDatabaseUrl!, redisUrl: testRedisUrl!, processes: 2 });
    google = cluster.google;
    procs = [...cluster.processes];
    sql = new pg.Client({ connectionString: cluster.db.url });
    await sql.connect();
    source = `src-${Date.now()}@example.com`;
    emails.push(source, `dst1-${Date.now()}@example.com`, `dst2-${Date.now()}@example.com`);
    connections = await connectMailboxes(cluster, emails.map((email) => (email === source ? { email, generate: RECORDS } : { email })), { concurrencyLevel: 2 });
  }, 90_000);

  afterAll(async () => {
    await sql?.end();
    await cluster?.close();
  });

  const mailbox = (email: string) => mailboxOf(google, email);
  const exported = async () => (await mailbox(source)).filter(exportable);
  const lease = async (runId: string) => (await sql.query("SELECT lease_owner, lease_token, status FROM flow_runs WHERE id = $1", [runId])).rows[0];
  /** The process whose runner holds the run's lease (owners are `host:pid:random`). */
  const holder = async (runId: string) => {
    const owner: string = (await lease(runId)).lease_owner;
    return procs.find((p) => owner?.split(":")[1] === String(p.child.pid));
  };

  /** A send flow into the destination connection `dest`, started and running with a few records sent. */
  async function startRun(dest: number): Promise<string> {
    const call = cluster.call(procs.at(-1)!);
    const flow = await call("POST", "/v1/flows", {
      name: `forward ${dest}`,
      source: { connectionId: connections[0], export: { format: "metadata", maxMessages: RECORDS } },
      destinations: [{ connectionId: connections[dest], import: { action: "send" } }],
    });
    expect(flow.status, JSON.stringify(flow.body)).toBe(201);
    await google.admin("PUT", "/settings", { latencyMs: 150 });
    const { runId } = (await call("POST", `/v1/flows/${flow.body.id}/run`)).body;
    await pollRun(call, runId, async (run) => run.progress.imported >= 3 && (await holder(runId)) !== undefined, { timeoutMs: 20_000, intervalMs: 50 });
    return runId;
  }

  async function expectExactlyOnce(runId: string, via: ServiceProcess, dest: string) {
    const records = await exported();
    const run = await pollRun(cluster.call(via), runId, ended, { timeoutMs: 60_000, intervalMs: 100 });
    expect(run).toMatchObject({ status: "succeeded", progress: { exported: records.length, imported: records.length, failed: 0 } });
    const sent = (await mailbox(dest)).filter((m) => m.labelIds.includes("SENT"));
    expect(sent.map((m) => m.subject).sort()).toEqual(records.map((m) => `Fwd: ${m.subject}`).sort());
  }

  it("is taken over within 15 s when its process is SIGKILLed", async () => {
    const runId = await startRun(1);
    const victim = (await holder(runId))!;
    expect(victim).toBeDefined();
    const survivor = procs.find((p) => p !== victim)!;
    const token = Number((await lease(runId)).lease_token);
    await victim.kill("SIGKILL");
    const killedAt = Date.now();
    await google.admin("PUT", "/settings", { latencyMs: 0 });
    let takeoverMs = -1;
    for (let i = 0; i < 600; i++) {
      const l = await lease(runId);
      if (l.status !== "running" || Number(l.lease_token) > token) {
        takeoverMs = Date.now() - killedAt;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    console.log(`takeover after SIGKILL: ${takeoverMs} ms`);
    expect(takeoverMs).toBeGreaterThan(0);
    expect(takeoverMs).toBeLessThan(20_000); // about 15 s at most, with room for a loaded machine
    expect(await holder(runId)).toBe(survivor);
    await expectExactlyOnce(runId, survivor, emails[1]!);
    procs.splice(procs.indexOf(victim), 1);
    procs.push(await cluster.start());
  }, 120_000);

  it("is taken over from a runner frozen past its lease, which sends nothing more once resumed", async () => {
    const runId = await startRun(2);
    const frozen = (await holder(runId))!;
    expect(frozen).toBeDefined();
    const other = procs.find((p) => p !== frozen)!;
    const token = Number((await lease(runId)).lease_token);
    frozen.child.kill("SIGSTOP");
    await google.admin("PUT", "/settings", { latencyMs: 50 });
    // The other process takes the run over once the frozen one's lock and lease lapse.
    for (let i = 0; i < 600; i++) {
      if (Number((await lease(runId)).lease_token) > token) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await holder(runId)).toBe(other);
    frozen.child.kill("SIGCONT");
    await expectExactlyOnce(runId, other, emails[2]!);
    await google.admin("PUT", "/settings", { latencyMs: 0 });
    // The resumed runner found its lease lost (on its clock, a refused renewal or claim) and stopped.
    for (let i = 0; i < 100 && !/run lease lost/.test(frozen.output()); i++) await new Promise((r) => setTimeout(r, 100));
    expect(frozen.output()).toMatch(/run lease lost/);
  }, 120_000);
});
