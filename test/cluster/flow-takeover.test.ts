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
import { freshPostgresDatabase } from "../support/db.ts";
import { consent, startGoogle, type TestGoogle } from "../support/google.ts";
import { clusterEnv, http, startService, type ServiceProcess } from "../support/cluster.ts";

const MAIL = "https://mail.google.com/";
const RECORDS = 30;

describe.skipIf(!testDatabaseUrl || !testRedisUrl)("a run whose runner dies or freezes", () => {
  let google: TestGoogle;
  let db: Awaited<ReturnType<typeof freshPostgresDatabase>>;
  let sql: pg.Client;
  let env: Record<string, string>;
  const procs: ServiceProcess[] = [];
  let source: string;
  let connections: string[];
  const emails: string[] = [];

  beforeAll(async () => {
    google = await startGoogle();
    db = await freshPostgresDatabase(testDatabaseUrl!);
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    env = clusterEnv({ databaseUrl: db.url, redisUrl: testRedisUrl!, google: google.env });
    procs.push(await startService(env), await startService(env));
    const call = http(procs[0]!.url, env.ADMIN_TOKEN!);
    const client = await google.newClient([`${procs[0]!.url}/oauth2/callback`, `${procs[1]!.url}/oauth2/callback`]);
    const ic = (await call("POST", "/v1/iclients", { name: "ic", application: "gmail", ...client })).body;
    source = `src-${Date.now()}@example.com`;
    await google.admin("POST", "/users", { email: source, generate: { count: RECORDS } });
    connections = [];
    for (const email of [source, `dst1-${Date.now()}@example.com`, `dst2-${Date.now()}@example.com`]) {
      if (email !== source) await google.admin("POST", "/users", { email });
      const c = await call("POST", "/v1/connections", { name: email, application: "gmail", scopes: [MAIL], iClientId: ic.id, concurrencyLevel: 2 });
      const { authorizeUrl } = (await call("POST", `/v1/connections/${c.body.id}/authorize`)).body;
      expect((await fetch((await consent(authorizeUrl, { email })).redirect)).status).toBe(200);
      connections.push(c.body.id);
      emails.push(email);
    }
  }, 90_000);

  afterAll(async () => {
    for (const p of procs) {
      if (p.child.signalCode === null && p.child.exitCode === null) p.child.kill("SIGCONT");
      await p.kill("SIGKILL");
    }
    await sql?.end();
    await db?.drop();
    await google?.close();
  });

  const mailbox = async (email: string) => (await google.admin("GET", `/users/${encodeURIComponent(email)}`)).messages as Array<{ subject: string; labelIds: string[] }>;
  const exported = async () => (await mailbox(source)).filter((m) => !m.labelIds.includes("SPAM") && !m.labelIds.includes("TRASH"));
  const lease = async (runId: string) => (await sql.query("SELECT lease_owner, lease_token, status FROM flow_runs WHERE id = $1", [runId])).rows[0];
  /** The process whose runner holds the run's lease (owners are `host:pid:random`). */
  const holder = async (runId: string) => {
    const owner: string = (await lease(runId)).lease_owner;
    return procs.find((p) => owner?.split(":")[1] === String(p.child.pid));
  };

  /** A send flow into the destination connection `dest`, started and running with a few records sent. */
  async function startRun(dest: number): Promise<string> {
    const call = http(procs.at(-1)!.url, env.ADMIN_TOKEN!);
    const flow = await call("POST", "/v1/flows", {
      name: `forward ${dest}`,
      source: { connectionId: connections[0], export: { format: "metadata", maxMessages: RECORDS } },
      destinations: [{ connectionId: connections[dest], import: { action: "send" } }],
    });
    expect(flow.status, JSON.stringify(flow.body)).toBe(201);
    await google.admin("PUT", "/settings", { latencyMs: 150 });
    const { runId } = (await call("POST", `/v1/flows/${flow.body.id}/run`)).body;
    for (let i = 0; i < 400; i++) {
      const run = (await call("GET", `/v1/runs/${runId}`)).body;
      if (run.progress.imported >= 3 && (await holder(runId))) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    return runId;
  }

  async function waitEnd(runId: string, via: ServiceProcess) {
    const call = http(via.url, env.ADMIN_TOKEN!);
    for (let i = 0; i < 600; i++) {
      const run = (await call("GET", `/v1/runs/${runId}`)).body;
      if (!["queued", "running"].includes(run.status)) return run;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error("run did not end");
  }

  async function expectExactlyOnce(runId: string, via: ServiceProcess, dest: string) {
    const records = await exported();
    const run = await waitEnd(runId, via);
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
    procs.push(await startService(env));
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
