/**
 * The run starter at the store, on each backend: a trigger starts one run, triggers during it
 * fold into one follow-up started when it ends (each in one statement), a follow-up never starts
 * beside an active run (its flag stays), and on PostgreSQL the races between processes: a run
 * inserted by another transaction while a follow-up starts, and fires racing run ends on two
 * connection pools, never make two active runs, lose a trigger or deadlock.
 */
import pg from "pg";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDb, type Db } from "../../core/store/db.ts";
import { MemoryRunQueue } from "../../server/flows/memory-run-queue.ts";
import { RunStarter } from "../../server/triggers/run-starter.ts";
import { pgliteBackend, postgresBackend, type TestDb } from "../support/db.ts";
import { until } from "./support.ts";

const backends = [pgliteBackend, ...(postgresBackend ? [postgresBackend] : [])];
const log = pino({ level: "silent" });

/** A starter on `db` whose queue records the runs it is given. */
function starterOn(db: Db) {
  const enqueued: string[] = [];
  const queue = new MemoryRunQueue(async (runId) => void enqueued.push(runId));
  return { starter: new RunStarter(db, () => queue, log), enqueued, queue };
}

describe.each(backends)("run starter on $name", (backend) => {
  let store: TestDb;
  let db: Db;
  let n = 0;

  beforeAll(async () => {
    store = await backend.open();
    db = store.db;
    await db.query("INSERT INTO accounts (id, name) VALUES ('acc_1', 'one')");
  });
  afterAll(() => store?.close());

  const newFlow = async () => {
    const flowId = `flw_${++n}`;
    await db.query("INSERT INTO flows (id, account_id, name) VALUES ($1, 'acc_1', $1)", [flowId]);
    await db.query(`INSERT INTO flow_triggers (flow_id, account_id, trigger) VALUES ($1, 'acc_1', '{"type": "gmail"}'::jsonb)`, [flowId]);
    return flowId;
  };
  const active = (flowId: string) => db.query<{ id: string; trigger: string }>("SELECT id, trigger FROM flow_runs WHERE flow_id = $1 AND status IN ('queued', 'running')", [flowId]);
  const triggerRow = async (flowId: string) =>
    (await db.query<{ pending_trigger: string | null; poll_history_id: string | null; backfill_after: unknown }>("SELECT * FROM flow_triggers WHERE flow_id = $1", [flowId]))[0]!;
  const end = (runId: string, status: string) => db.query("UPDATE flow_runs SET status = $2, finished_at = now() WHERE id = $1", [runId, status]);

  it("starts one run; triggers during it fold into one follow-up, started when it ends, with the poll cursor moved", async () => {
    const { starter, enqueued } = starterOn(db);
    const flowId = await newFlow();
    await db.query("UPDATE flow_triggers SET backfill_after = now() WHERE flow_id = $1", [flowId]);
    const first = await starter.fire("acc_1", flowId, "push", { historyId: "100", at: Date.now() });
    expect(first).toBeDefined();
    expect(await starter.runEnded(first!)).toBeUndefined(); // still queued: left for a retry
    const folded = await Promise.all([starter.fire("acc_1", flowId, "poll"), starter.fire("acc_1", flowId, "push", { historyId: "120", at: Date.now() }), starter.fire("acc_1", flowId, "push")]);
    expect(folded).toEqual([undefined, undefined, undefined]);
    expect((await active(flowId)).map((r) => r.id)).toEqual([first]);
    const row = await triggerRow(flowId);
    expect(row.pending_trigger).not.toBeNull();
    expect(row.poll_history_id).toBe("120");
    // Nothing starts beside the active run, however asked.
    expect(await starter.followUp(flowId)).toBeUndefined();
    expect(await starter.pendingFlows()).not.toContain(flowId);

    await end(first!, "succeeded");
    expect(await starter.pendingFlows()).toContain(flowId);
    const follow = await starter.runEnded(first!);
    expect(follow).toBeDefined();
    expect((await active(flowId)).map((r) => r.id)).toEqual([follow]);
    const after = await triggerRow(flowId);
    expect(after.pending_trigger).toBeNull();
    expect(after.backfill_after).toBeNull(); // a successful run ends a backfill
    expect(after.poll_history_id).toBe("120");
    expect(enqueued).toEqual([first, follow]);
    // The run's end told twice starts nothing more.
    expect(await starter.runEnded(first!)).toBeUndefined();

    await end(follow!, "failed");
    expect(await starter.runEnded(follow!)).toBeUndefined();
    expect((await triggerRow(flowId)).poll_history_id).toBeNull(); // a failed run lets the poller look again from the checkpoint
    expect(await active(flowId)).toEqual([]);
  });

  it("keeps the flag when another run is active at a run's end, and after closing (for the next start)", async () => {
    const { starter } = starterOn(db);
    const flowId = await newFlow();
    const first = (await starter.fire("acc_1", flowId, "schedule"))!;
    expect(await starter.fire("acc_1", flowId, "schedule")).toBeUndefined();
    await end(first, "succeeded");
    // Someone pressed Run between the end and its hook.
    await db.query("INSERT INTO flow_runs (id, account_id, flow_id) VALUES ($1, 'acc_1', $2)", [`run_manual_${flowId}`, flowId]);
    expect(await starter.runEnded(first)).toBeUndefined();
    expect((await triggerRow(flowId)).pending_trigger).toBe("schedule");
    await end(`run_manual_${flowId}`, "succeeded");

    starter.close();
    expect(await starter.runEnded(`run_manual_${flowId}`)).toBeUndefined();
    expect(await starter.followUp(flowId)).toBeUndefined();
    expect((await triggerRow(flowId)).pending_trigger).toBe("schedule");
    expect(await active(flowId)).toEqual([]);

    const next = starterOn(db).starter; // the next start's sweep
    expect(await next.pendingFlows()).toContain(flowId);
    const started = await next.followUp(flowId);
    expect((await active(flowId)).map((r) => [r.id, r.trigger])).toEqual([[started, "schedule"]]);
  });
});

it("touches no database once closed: a follow-up asked for while the service closes leaves its flag for the next start", async () => {
  const spare = await pgliteBackend.open();
  const { starter } = starterOn(spare.db);
  starter.close();
  await spare.close(); // what a shutdown does right after
  expect(await starter.followUp("flw_any")).toBeUndefined();
});

describe.skipIf(!postgresBackend)("run starter races between processes (PostgreSQL)", () => {
  let store: TestDb;
  let other: Db;
  let n = 0;

  beforeAll(async () => {
    store = await postgresBackend!.open();
    other = await openDb({ dataDir: store.dataDir, databaseUrl: store.databaseUrl });
    await store.db.query("INSERT INTO accounts (id, name) VALUES ('acc_1', 'one')");
  });
  afterAll(async () => {
    await other?.close();
    await store?.close();
  });

  const newFlow = async () => {
    const flowId = `flw_race_${++n}`;
    await store.db.query("INSERT INTO flows (id, account_id, name) VALUES ($1, 'acc_1', $1)", [flowId]);
    await store.db.query(`INSERT INTO flow_triggers (flow_id, account_id, trigger) VALUES ($1, 'acc_1', '{"type": "gmail"}'::jsonb)`, [flowId]);
    return flowId;
  };
  const state = async (flowId: string) => ({
    active: (await store.db.query("SELECT id FROM flow_runs WHERE flow_id = $1 AND status IN ('queued', 'running')", [flowId])).length,
    pending: (await store.db.query<{ pending_trigger: string | null }>("SELECT pending_trigger FROM flow_triggers WHERE flow_id = $1", [flowId]))[0]!.pending_trigger,
  });

  it("leaves the flag when a run another transaction inserts wins the follow-up's insert", async () => {
    const { starter } = starterOn(store.db);
    const flowId = await newFlow();
    await store.db.query("UPDATE flow_triggers SET pending_trigger = 'push' WHERE flow_id = $1", [flowId]);
    const client = new pg.Client({ connectionString: store.databaseUrl });
    await client.connect();
    try {
      await client.query("BEGIN");
      await client.query("INSERT INTO flow_runs (id, account_id, flow_id) VALUES ('run_other', 'acc_1', $1)", [flowId]);
      const pid = (await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid;
      const following = starter.followUp(flowId);
      // The follow-up's insert waits on the other transaction's row in the unique index of active runs.
      await until(
        async () => (await store.db.query("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND $1 = ANY(pg_blocking_pids(pid))", [pid])).length > 0,
        "the follow-up waiting on the other transaction",
      );
      await client.query("COMMIT");
      expect(await following).toBeUndefined();
    } finally {
      await client.end();
    }
    expect(await state(flowId)).toEqual({ active: 1, pending: "push" }); // the flag stays for run_other's end
  });

  it("does not deadlock a fire against a follow-up that locked the trigger row and then inserts its run", async () => {
    const { starter } = starterOn(store.db);
    const flowId = await newFlow();
    const client = new pg.Client({ connectionString: store.databaseUrl });
    await client.connect();
    try {
      // What a follow-up (or a run's end) does: lock the trigger row, then insert the run.
      await client.query("BEGIN");
      await client.query("SELECT 1 FROM flow_triggers WHERE flow_id = $1 FOR UPDATE", [flowId]);
      const pid = (await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid;
      const firing = starter.fire("acc_1", flowId, "push", { historyId: "500", at: Date.now() });
      await until(
        async () => (await store.db.query("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND $1 = ANY(pg_blocking_pids(pid))", [pid])).length > 0,
        "the fire waiting on the locked trigger row",
      );
      // A fire that inserted its run before locking the row would hold this insert up: a deadlock.
      await client.query("INSERT INTO flow_runs (id, account_id, flow_id, trigger) VALUES ('run_follow', 'acc_1', $1, 'poll')", [flowId]);
      await client.query("COMMIT");
      expect(await firing).toBeUndefined(); // folded into the follow-up of run_follow
    } finally {
      await client.end();
    }
    expect(await state(flowId)).toEqual({ active: 1, pending: "push" });
    expect((await store.db.query("SELECT poll_history_id FROM flow_triggers WHERE flow_id = $1", [flowId]))[0]!.poll_history_id).toBe("500");
  });

  it("never makes two active runs, loses a trigger or deadlocks when fires race run ends on two pools", async () => {
    const a = starterOn(store.db);
    const b = starterOn(other);
    const flowId = await newFlow();
    let current = (await a.starter.fire("acc_1", flowId, "push"))!;
    for (let i = 0; i < 40; i++) {
      // The run ends in one process while a trigger fires in the other (every third time a second one too).
      const before = await state(flowId);
      const ending = (async () => {
        await store.db.query("UPDATE flow_runs SET status = 'succeeded' WHERE id = $1", [current]);
        await a.starter.runEnded(current);
      })();
      const twice = i % 3 === 0;
      await Promise.all([ending, b.starter.fire("acc_1", flowId, "push", { historyId: String(1000 + i), at: Date.now() }), ...(twice ? [a.starter.fire("acc_1", flowId, "poll")] : [])]);
      // No sweep needed: the run's end sees a flag set while it ended. One run is active, and a flag
      // is left only when more triggers came than runs could start (it waits for the active run's end).
      expect(await a.starter.pendingFlows()).toEqual([]);
      const now = await state(flowId);
      expect(now.active).toBe(1);
      if (!twice && !before.pending) expect(now.pending).toBeNull();
      current = (await store.db.query<{ id: string }>("SELECT id FROM flow_runs WHERE flow_id = $1 AND status IN ('queued', 'running')", [flowId]))[0]!.id;
    }
  });
});
