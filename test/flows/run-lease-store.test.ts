/**
 * The run lease and the fenced delivery claim at the store, on each backend:
 * a run under a live lease is not claimed by another owner; once it lapses the
 * takeover gets a new token, and the old token can neither renew, save
 * progress, finish nor claim a delivery. And migration 008 gives existing
 * flows' destinations ids and keys their deliveries by them.
 */
import { readdir, readFile, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RunStore } from "../../server/flows/run-store.ts";
import { DeliveryStore } from "../../server/flows/deliveries.ts";
import { LeaseLostError } from "../../server/flows/failure-kind.ts";
import { migrate } from "../../core/store/migrate.ts";
import { openPglite } from "../../core/store/pglite-db.ts";
import { pgliteBackend, postgresBackend, type TestDb } from "../support/db.ts";

const backends = [pgliteBackend, ...(postgresBackend ? [postgresBackend] : [])];

describe.each(backends)("run leases on $name", (backend) => {
  let store: TestDb;
  let runs: RunStore;
  let deliveries: DeliveryStore;
  let n = 0;

  beforeAll(async () => {
    store = await backend.open();
    runs = new RunStore(store.db);
    deliveries = new DeliveryStore(store.db);
    await store.db.query("INSERT INTO accounts (id, name) VALUES ('acc_1', 'one')");
  });
  afterAll(() => store?.close());

  const newRun = async (status = "queued") => {
    const flowId = `flw_${++n}`;
    await store.db.query("INSERT INTO flows (id, account_id, name) VALUES ($1, 'acc_1', $1)", [flowId]);
    await store.db.query("INSERT INTO flow_runs (id, account_id, flow_id, status) VALUES ($1, 'acc_1', $2, $3)", [`run_${n}`, flowId, status]);
    return { runId: `run_${n}`, flowId };
  };
  const lapse = (runId: string) => store.db.query("UPDATE flow_runs SET lease_expires_at = now() - interval '1 millisecond' WHERE id = $1", [runId]);
  const zero = { exported: 0, imported: 0, failed: 0 };

  it("claims a run once while its lease lives; a takeover after it lapsed fences the first runner out", async () => {
    const { runId, flowId } = await newRun();
    const a = await runs.claim(runId, "a", 60_000);
    if (typeof a !== "object") throw new Error("not claimed");
    expect(a.attempt).toBe(1);
    expect(await runs.claim(runId, "b", 60_000)).toBe("leased");
    const key = { flowId, destinationId: "dst_1", sourceMessageId: "m1" };
    const fenceA = { runId, token: a.token, marginMs: 1_000 };
    expect(await deliveries.claim(key, "<m1@x>", fenceA)).toEqual({});

    await lapse(runId);
    // Lapsed: a cannot renew, nor claim the next delivery, even before anyone took over.
    expect(await runs.saveProgress(a, 60_000, { ...zero, exported: 5 }, [])).toEqual({ status: "running", leased: false });
    await expect(deliveries.claim({ ...key, sourceMessageId: "m2" }, "<m2@x>", fenceA)).rejects.toBeInstanceOf(LeaseLostError);
    const b = await runs.claim(runId, "b", 60_000);
    if (typeof b !== "object") throw new Error("not taken over");
    expect(b).toMatchObject({ token: a.token + 1, attempt: 2 });
    const fenceB = { runId, token: b.token, marginMs: 1_000 };
    // b finds a's pending delivery (to look up before sending again), and takes it over.
    expect(await deliveries.claim(key, "<m1@x>", fenceB)).toEqual({ previous: { status: "pending", destinationMessageId: null, rfc822MessageId: "<m1@x>" } });
    const [row] = await store.db.query("SELECT claim_token FROM flow_deliveries WHERE source_message_id = 'm1' AND flow_id = $1", [flowId]);
    expect(Number(row!.claim_token)).toBe(b.token);
    await deliveries.markDone(key, "gm_1");
    expect(await deliveries.claim(key, "<m1@x>", fenceB)).toEqual({ previous: { status: "done", destinationMessageId: "gm_1", rfc822MessageId: "<m1@x>" } });
    expect([...(await deliveries.doneSources(flowId, ["dst_1"], ["m1", "m2"]))]).toEqual(["m1"]);

    // a's late writes change nothing; a queue that spent its attempts does not fail b's live run.
    await runs.finish(a, "failed", { ...zero, failed: 9 }, []);
    await runs.fail(runId, { code: "google_error", message: "spent" });
    expect((await runs.find(runId))!.status).toBe("running");
    expect(await runs.saveProgress(b, 60_000, { ...zero, exported: 1 }, [])).toEqual({ status: "running", leased: true });
    await runs.finish(b, "succeeded", { exported: 1, imported: 1, failed: 0 }, []);
    expect(await runs.find(runId)).toMatchObject({ status: "succeeded", progress: { exported: 1, imported: 1, failed: 0 } });
    expect(await runs.claim(runId, "c", 60_000)).toBeUndefined();
  });

  it("claims made at once go in one statement, each fenced by its own run's lease; two claims of one delivery see each other", async () => {
    const live = await newRun();
    const lapsed = await newRun();
    const a = await runs.claim(live.runId, "a", 60_000);
    const b = await runs.claim(lapsed.runId, "b", 60_000);
    if (typeof a !== "object" || typeof b !== "object") throw new Error("not claimed");
    await lapse(lapsed.runId);
    const fenceA = { runId: live.runId, token: a.token, marginMs: 1_000 };
    const fenceB = { runId: lapsed.runId, token: b.token, marginMs: 1_000 };
    const key = (flowId: string, m: string) => ({ flowId, destinationId: "dst_1", sourceMessageId: m });
    // Made in one tick: one batch.
    const results = await Promise.allSettled([
      deliveries.claim(key(live.flowId, "m1"), "<m1@x>", fenceA),
      deliveries.claim(key(lapsed.flowId, "m1"), "<m1@x>", fenceB),
      deliveries.claim(key(live.flowId, "m2"), "<m2@x>", fenceA),
      deliveries.claim(key(live.flowId, "m2"), "<m2@x>", fenceA),
    ]);
    expect(results.map((r) => (r.status === "fulfilled" ? r.value : (r.reason as Error).constructor.name))).toEqual([
      {},
      "LeaseLostError",
      {},
      { previous: { status: "pending", destinationMessageId: null, rfc822MessageId: "<m2@x>" } },
    ]);
    const rows = await store.db.query("SELECT flow_id, source_message_id FROM flow_deliveries WHERE flow_id = ANY($1::text[]) ORDER BY 1, 2", [[live.flowId, lapsed.flowId]]);
    expect(rows.map((r) => `${r.flow_id === live.flowId ? "live" : "lapsed"} ${r.source_message_id}`)).toEqual(["live m1", "live m2"]);
  });

  it("claims with what the attempt starts from in one statement: the run, its flow, its connections' addresses, its checkpoint", async () => {
    const { runId, flowId } = await newRun();
    await store.db.query("UPDATE flows SET definition = $2::jsonb WHERE id = $1", [flowId, JSON.stringify({ source: { connectionId: `con_s${n}` }, destinations: [] })]);
    for (const [id, email] of [[`con_s${n}`, "src@example.com"], [`con_d${n}`, null]]) {
      await store.db.query("INSERT INTO connections (id, account_id, name, application, scopes, email) VALUES ($1, 'acc_1', $1, 'gmail', '[]', $2)", [id, email]);
      await store.db.query("INSERT INTO flow_connections (flow_id, connection_id) VALUES ($1, $2)", [flowId, id]);
    }
    await store.db.query("INSERT INTO flow_checkpoints (flow_id, history_id) VALUES ($1, '4242')", [flowId]);
    await store.db.query(
      `INSERT INTO flow_triggers (flow_id, account_id, trigger, backfill_after) VALUES ($1, 'acc_1', '{"type": "gmail", "labelIds": ["INBOX"]}', '2026-12-01T10:00:00.5Z')`,
      [flowId],
    );
    const claimed = await runs.claimWithContext(runId, "a", 60_000);
    if (typeof claimed !== "object") throw new Error("not claimed");
    expect(claimed.lease).toMatchObject({ runId, attempt: 1 });
    expect(claimed.run).toMatchObject({ id: runId, flowId, accountId: "acc_1", status: "running", attempts: 1 });
    expect(claimed.flowRow).toMatchObject({ id: flowId, definition: { source: { connectionId: `con_s${n}` } } });
    expect(claimed.emails).toEqual({ [`con_s${n}`]: "src@example.com", [`con_d${n}`]: null });
    expect(claimed.checkpoint).toBe("4242");
    expect(claimed.triggerState).toEqual({ trigger: { type: "gmail", labelIds: ["INBOX"] }, backfillAfter: "2026-12-01T10:00:00.500Z" });
    expect(await runs.claimWithContext(runId, "b", 60_000)).toBe("leased");
    // The same owner takes its own run up again (a retry on the same process).
    const again = await runs.claimWithContext(runId, "a", 60_000);
    expect(typeof again === "object" && again.lease.token).toBe(claimed.lease.token + 1);
    expect(await runs.claimWithContext("run_none", "a", 60_000)).toBeUndefined();
  });

  it("finishes with the checkpoint and forgets the candidates only under the live token", async () => {
    const { runId, flowId } = await newRun();
    const candidates = async () => Number((await store.db.query("SELECT count(*) AS n FROM run_candidates WHERE run_id = $1", [runId]))[0]!.n);
    const checkpoint = async () => (await store.db.query("SELECT history_id FROM flow_checkpoints WHERE flow_id = $1", [flowId]))[0]?.history_id;
    const bare = await runs.claimWithContext(runId, "a", 60_000);
    if (typeof bare !== "object") throw new Error("not claimed");
    // A flow with no trigger row, checkpoint nor connections.
    expect(bare).toMatchObject({ emails: {}, checkpoint: undefined, triggerState: undefined, flowRow: { id: flowId } });
    const a = bare.lease;
    await store.db.query("INSERT INTO run_candidates (run_id, seq, message_id) VALUES ($1, 1, 'm1'), ($1, 2, 'm2')", [runId]);
    await lapse(runId);
    const b = await runs.claim(runId, "b", 60_000);
    if (typeof b !== "object") throw new Error("not taken over");
    // a's late finish moves no checkpoint and leaves b's candidates.
    await runs.finish(a, "succeeded", zero, [], { checkpoint: "100", clearCandidates: true });
    expect(await checkpoint()).toBeUndefined();
    expect(await candidates()).toBe(2);
    await runs.finish(b, "succeeded", { ...zero, exported: 2, imported: 2 }, [], { checkpoint: "200", clearCandidates: true });
    expect(await checkpoint()).toBe("200");
    expect(await candidates()).toBe(0);
    expect(await runs.find(runId)).toMatchObject({ status: "succeeded", progress: { exported: 2, imported: 2 } });
  });

  it("lists as orphans the runs queued or running with no live lease", async () => {
    const queued = await newRun("queued");
    const live = await newRun("queued");
    const lapsed = await newRun("queued");
    const done = await newRun("succeeded");
    await runs.claim(live.runId, "a", 60_000);
    await runs.claim(lapsed.runId, "a", 60_000);
    await lapse(lapsed.runId);
    const orphans = await runs.orphans();
    expect(orphans).toEqual(expect.arrayContaining([queued.runId, lapsed.runId]));
    expect(orphans).not.toContain(live.runId);
    expect(orphans).not.toContain(done.runId);
    // The final failure of a run no lease holds keeps its progress, the error first.
    await runs.fail(lapsed.runId, { code: "google_error", message: "Google answered 503." });
    expect(await runs.find(lapsed.runId)).toMatchObject({ status: "failed", errors: [{ code: "google_error" }] });
  });
});

describe("migration 008 on flows made before it", () => {
  let dir: string;
  afterAll(() => (dir ? rm(dir, { recursive: true, force: true }) : undefined));

  it("gives every destination an id and keys its deliveries by it", async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "mb-mig-"));
    const db = await openPglite(dir);
    try {
      // The schema as migrations 001–004 left it.
      const folder = new URL("../../core/store/migrations/", import.meta.url);
      const files = (await readdir(folder)).filter((f) => /^\d+_.+\.sql$/.test(f)).sort();
      await db.query("CREATE TABLE schema_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
      for (const file of files.filter((f) => Number.parseInt(f, 10) <= 4)) {
        const sql = await readFile(new URL(file, folder), "utf8");
        for (const st of sql.split(/;\s*$/m).map((s) => s.replace(/^\s*--.*$/gm, "").trim()).filter(Boolean)) await db.query(st);
        await db.query("INSERT INTO schema_migrations (id, name) VALUES ($1, $2)", [Number.parseInt(file, 10), file]);
      }
      await db.query("INSERT INTO accounts (id, name) VALUES ('acc_1', 'one')");
      const definition = { source: { connectionId: "con_s" }, destinations: [{ connectionId: "con_a", import: { action: "send" } }, { connectionId: "con_b", import: { action: "insert" } }] };
      await db.query("INSERT INTO flows (id, account_id, name, definition) VALUES ('flw_old', 'acc_1', 'old', $1::jsonb)", [JSON.stringify(definition)]);
      for (const [index, status] of [[0, "done"], [1, "pending"], [5, "done"]] as const) {
        await db.query("INSERT INTO flow_deliveries (flow_id, destination_index, source_message_id, status) VALUES ('flw_old', $1, 'm1', $2)", [index, status]);
      }

      await migrate(db);
      const [flow] = await db.query("SELECT definition FROM flows WHERE id = 'flw_old'");
      const ids = flow!.definition.destinations.map((d: { id: string }) => d.id);
      expect(ids).toEqual([expect.stringMatching(/^dst_[0-9a-f]{20}$/), expect.stringMatching(/^dst_[0-9a-f]{20}$/)]);
      expect(flow!.definition.destinations[0]).toMatchObject({ connectionId: "con_a", import: { action: "send" } });
      const rows = await db.query("SELECT destination_id, status FROM flow_deliveries ORDER BY status, destination_id");
      expect(rows).toEqual(
        expect.arrayContaining([
          { destination_id: ids[0], status: "done" },
          { destination_id: ids[1], status: "pending" },
          { destination_id: "dst_removed_5", status: "done" },
        ]),
      );
      expect(rows).toHaveLength(3);
    } finally {
      await db.close();
    }
  });
});
