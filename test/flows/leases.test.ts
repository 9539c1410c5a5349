/**
 * One runner per run: a run is claimed under a lease whose token fences every
 * delivery claim. A runner whose lease lapsed and was taken over stops before
 * its next send and leaves the run alone while the new lease lives; runs left
 * running with no live lease are reconciled; and reordering a flow's
 * destinations resends nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flowWorld, rawMessage, type FlowWorld } from "./support.ts";

const RECORDS = 40;

describe("run leases and destination ids", () => {
  let w: FlowWorld;

  beforeAll(async () => {
    w = await flowWorld({ deps: { flows: { retry: { attempts: 40, baseMs: 50, maxMs: 200 }, reconcileIntervalMs: 200 } } });
  });
  afterAll(() => w?.close());

  const sent = async (email: string) => (await w.user(email)).messages.filter((m) => m.labelIds.includes("SENT"));
  const logged = (pattern: RegExp, runId: string) => w.t.logs.filter((l) => l.includes(runId) && pattern.test(l)).length;
  const until = async (what: () => boolean | Promise<boolean>) => {
    while (!(await what())) await new Promise((r) => setTimeout(r, 20));
  };
  const leaseOf = async (runId: string) =>
    (await w.t.store.db.query<{ lease_token: string; lease_owner: string; attempts: number }>("SELECT lease_token, lease_owner, attempts FROM flow_runs WHERE id = $1", [runId]))[0]!;

  it("a runner whose lease lapsed and was taken over sends nothing more; the run finishes once the lease is free", async () => {
    const src = await w.mailbox({
      messages: Array.from({ length: RECORDS }, (_, i) => ({ raw: rawMessage({ to: "a@example.com", subject: `lease ${i}` }) })),
    });
    const dst = await w.mailbox();
    const flowId = await w.flow({ source: { connectionId: src.connectionId, export: { query: "subject:lease" } }, destinations: [{ connectionId: dst.connectionId, import: { action: "send" } }] });
    await w.google.admin("PUT", "/settings", { latencyMs: 150 });
    const { runId } = (await w.a.post(`/v1/flows/${flowId}/run`)).json();
    await until(async () => (await w.a.get(`/v1/runs/${runId}`)).json().progress.imported >= 2);

    // The runner froze past its lease and another runner took the run over: a new token, a live lease.
    const before = await leaseOf(runId);
    await w.t.store.db.query(
      "UPDATE flow_runs SET lease_token = lease_token + 1, lease_owner = 'another-runner', lease_expires_at = now() + interval '10 minutes' WHERE id = $1",
      [runId],
    );
    // It notices (renewal or delivery claim refused) and stops: in-flight sends end, no new one starts.
    await until(() => logged(/run lease lost/, runId) > 0);
    const stoppedAt = (await sent(dst.email)).length;
    expect(stoppedAt).toBeLessThan(RECORDS);
    // Its retries find the run leased to a live runner and leave it alone.
    await until(() => logged(/is leased by another runner/, runId) >= 3);
    expect((await sent(dst.email)).length).toBe(stoppedAt);
    const claimedByOld = await w.t.store.db.query("SELECT count(*)::int AS n FROM flow_deliveries WHERE flow_id = $1 AND claim_token = $2", [flowId, Number(before.lease_token)]);
    expect(claimedByOld[0]!.n).toBe(stoppedAt);

    // The other runner dies: its lease lapses, a retry takes the run and finishes it.
    await w.t.store.db.query("UPDATE flow_runs SET lease_expires_at = now() - interval '1 second' WHERE id = $1", [runId]);
    await w.google.admin("PUT", "/settings", { latencyMs: 0 });
    const run = await w.waitRun(runId);
    expect(run).toMatchObject({ status: "succeeded", progress: { exported: RECORDS, imported: RECORDS, failed: 0 } });
    const subjects = (await sent(dst.email)).map((m) => m.subject).sort();
    expect(subjects).toEqual(Array.from({ length: RECORDS }, (_, i) => `Fwd: lease ${i}`).sort());
    expect(Number((await leaseOf(runId)).lease_token)).toBeGreaterThan(Number(before.lease_token) + 1);
  });

  it("reconciles a run left running with a lapsed lease, at the next interval", async () => {
    const src = await w.mailbox({ messages: [{ raw: rawMessage({ to: "a@example.com", subject: "orphan" }) }] });
    const dst = await w.mailbox();
    const flowId = await w.flow({ source: { connectionId: src.connectionId, export: { query: "subject:orphan" } }, destinations: [{ connectionId: dst.connectionId, import: { action: "send" } }] });
    // A runner of another process claimed it, then died: its lease lapsed; no queue holds the run.
    await w.t.store.db.query(
      `INSERT INTO flow_runs (id, account_id, flow_id, status, started_at, attempts, lease_owner, lease_token, lease_expires_at)
       SELECT 'run_orphaned', account_id, id, 'running', now(), 1, 'dead-process', 1, now() - interval '1 second' FROM flows WHERE id = $1`,
      [flowId],
    );
    const run = await w.waitRun("run_orphaned");
    expect(run).toMatchObject({ status: "succeeded", progress: { exported: 1, imported: 1, failed: 0 } });
    expect(await sent(dst.email)).toHaveLength(1);
  });

  it("keeps each destination's id when the destinations are reordered, so a run after it sends nothing again", async () => {
    const src = await w.mailbox({ messages: ["x", "y"].map((s) => ({ raw: rawMessage({ to: "a@example.com", subject: `order ${s}` }) })) });
    const one = await w.mailbox();
    const two = await w.mailbox();
    const flowId = await w.flow({
      source: { connectionId: src.connectionId, export: { query: "subject:order" } },
      destinations: [
        { connectionId: one.connectionId, import: { action: "send" } },
        { connectionId: two.connectionId, import: { action: "send" } },
      ],
    });
    const created = (await w.a.get(`/v1/flows/${flowId}`)).json();
    const ids = created.destinations.map((d: { id: string }) => d.id);
    expect(ids).toEqual([expect.stringMatching(/^dst_/), expect.stringMatching(/^dst_/)]);
    expect(ids[0]).not.toBe(ids[1]);
    expect((await w.run(flowId)).progress).toEqual({ exported: 2, imported: 2, failed: 0 });

    // Reordered with their ids given back...
    const reversed = (await w.a.patch(`/v1/flows/${flowId}`, { destinations: [...created.destinations].reverse() })).json();
    expect(reversed.destinations.map((d: { id: string }) => d.id)).toEqual([ids[1], ids[0]]);
    expect((await w.run(flowId)).progress).toEqual({ exported: 2, imported: 2, failed: 0 });
    // ...and without them: the same connection and action keep their destination's id.
    const bare = created.destinations.map(({ id: _id, ...d }: { id: string }) => d);
    const again = (await w.a.patch(`/v1/flows/${flowId}`, { destinations: bare })).json();
    expect(again.destinations.map((d: { id: string }) => d.id)).toEqual(ids);
    expect((await w.run(flowId)).progress).toEqual({ exported: 2, imported: 2, failed: 0 });

    for (const box of [one, two]) expect((await sent(box.email)).map((m) => m.subject).sort()).toEqual(["Fwd: order x", "Fwd: order y"]);
    // An id that is not one of the flow's destinations is refused.
    const wrong = await w.a.patch(`/v1/flows/${flowId}`, { destinations: [{ ...created.destinations[0], id: "dst_unknown" }] });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().error.details[0].field).toBe("body.destinations.0.id");
    // A new destination gets a new id; the first keeps its own.
    const grown = (await w.a.patch(`/v1/flows/${flowId}`, { destinations: [created.destinations[0], { connectionId: src.connectionId, import: { action: "addLabels", labelIds: ["STARRED"] } }] })).json();
    expect(grown.destinations[0].id).toBe(ids[0]);
    expect(ids).not.toContain(grown.destinations[1].id);
  });
});

describe("a run whose progress stands still", () => {
  it("keeps its lease renewed while no record moves for longer than the lease, and finishes in one attempt", async () => {
    // Unchanged progress is saved only when the lease wants renewing (a quarter of it after the last renewal).
    const w = await flowWorld({ deps: { flows: { leaseMs: 3_000, progressIntervalMs: 100 } } });
    try {
      const src = await w.mailbox({ messages: [{ raw: rawMessage({ to: "a@example.com", subject: "slow one" }) }] });
      const dst = await w.mailbox();
      const flowId = await w.flow({ source: { connectionId: src.connectionId, export: { query: "subject:slow" } }, destinations: [{ connectionId: dst.connectionId, import: { action: "insert" } }] });
      // The listing and the fetch take 5 s together: longer than the lease, with nothing counted meanwhile.
      await w.google.admin("PUT", "/settings", { latencyMs: 2_500 });
      const run = await w.run(flowId);
      await w.google.admin("PUT", "/settings", { latencyMs: 0 });
      expect(run).toMatchObject({ status: "succeeded", progress: { exported: 1, imported: 1, failed: 0 } });
      const [row] = await w.t.store.db.query<{ attempts: number }>("SELECT attempts FROM flow_runs WHERE id = $1", [run.id]);
      expect(row!.attempts).toBe(1);
      expect(w.t.logs.some((l) => l.includes("run lease lost"))).toBe(false);
      expect((await w.user(dst.email)).messages.map((m) => m.subject)).toEqual(["slow one"]);
    } finally {
      await w.close();
    }
  }, 60_000);
});
