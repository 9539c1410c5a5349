/**
 * Schedules in single-process mode, on an injected clock: a tick fires one
 * run, a tick checked twice fires once, ticks missed while the process was
 * down fire once at the next start (not once each), and ticks that come while
 * a run is in progress fold into one follow-up run.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, startTestApp } from "../support/app.ts";
import { flowWorld, PUBLIC_URL, type FlowWorld } from "../flows/support.ts";
import { clock, runsOf, settled, ticker, until } from "./support.ts";

const MIN = 60_000;
const T0 = Date.parse("2026-03-02T08:01:00Z");

describe("scheduled flows (single process)", () => {
  const c = clock(T0);
  let w: FlowWorld;
  let src: { email: string; connectionId: string };
  let dst: { email: string; connectionId: string };

  beforeAll(async () => {
    w = await flowWorld({ deps: { triggers: { now: c.now }, flows: { recordConcurrency: 1 } } }); // slow runs: ticks come during them
    src = await w.mailbox({ generate: 3 });
    dst = await w.mailbox();
  });
  afterAll(() => w?.close());

  const scheduled = (trigger: Record<string, unknown>, a = w.a) =>
    a.post("/v1/flows", {
      name: `sched ${Math.random().toString(36).slice(2, 8)}`,
      source: { connectionId: src.connectionId, export: { format: "minimal" } },
      destinations: [{ connectionId: src.connectionId, import: { action: "addLabels", labelIds: ["IMPORTANT"] } }],
      trigger,
    });

  it("fires each cron tick once, and a late check fires the latest missed tick once", async () => {
    c.t = T0;
    const res = await scheduled({ type: "schedule", cron: "*/5 * * * *" });
    expect(res.json().nextRunAt).toBe("2026-03-02T08:05:00.000Z");
    const id = res.json().id;
    await ticker(w.t.app).check();
    expect(await runsOf(w, id)).toHaveLength(0); // not due yet

    c.t = Date.parse("2026-03-02T08:05:02Z");
    await ticker(w.t.app).check();
    await ticker(w.t.app).check(); // the same tick checked again fires nothing more
    const first = await until(async () => ((r) => r.length === 1 && settled(r) && r)(await runsOf(w, id)), "the first tick's run");
    expect(first[0]).toMatchObject({ trigger: "schedule", status: "succeeded" });
    expect((await w.a.get(`/v1/flows/${id}`)).json().nextRunAt).toBe("2026-03-02T08:10:00.000Z");

    // 08:10 to 08:25 were missed: one run, then the next tick is 08:30.
    c.t = Date.parse("2026-03-02T08:27:00Z");
    await ticker(w.t.app).check();
    const second = await until(async () => ((r) => r.length === 2 && settled(r) && r)(await runsOf(w, id)), "the late tick's run");
    expect(second.map((r) => r.trigger)).toEqual(["schedule", "schedule"]);
    expect((await w.a.get(`/v1/flows/${id}`)).json().nextRunAt).toBe("2026-03-02T08:30:00.000Z");
  });

  it("fires a tick missed while the process was down once when it starts again, and not again after", async () => {
    const start = Date.parse("2026-03-02T09:00:30Z");
    const other = clock(start);
    const open = () => startTestApp({ store: w.t.store, secrets: w.t.secrets, env: { PUBLIC_URL, ...w.google.env }, deps: { triggers: { now: other.now } } });
    const a = await open();
    const res = await scheduled({ type: "schedule", every: "10m" }, api(a.app, w.t.adminToken));
    const id = res.json().id;
    // An interval fires when enabled.
    await until(async () => ((r) => r.length === 1 && settled(r))(await runsOf(w, id)), "the enabling run");
    await a.close();

    other.advance(47 * MIN); // four ticks missed
    const b = await open();
    const after = await until(async () => ((r) => r.length >= 2 && settled(r) && r)(await runsOf(w, id)), "the run of the missed ticks");
    expect(after).toHaveLength(2);
    expect(after[1]!.trigger).toBe("schedule");
    expect((await w.a.get(`/v1/flows/${id}`)).json().nextRunAt).toBe(new Date(start + 57 * MIN).toISOString());
    await b.close();

    const again = await open(); // the same time: that tick was fired already
    await ticker(again.app).check();
    expect(await runsOf(w, id)).toHaveLength(2);
    await again.close();
  });

  it("folds ticks that come during a run into one follow-up run", async () => {
    c.t = Date.parse("2026-03-02T10:00:30Z");
    const big = await w.mailbox({ generate: 40 });
    const res = await w.a.post("/v1/flows", {
      name: "slow schedule",
      source: { connectionId: big.connectionId, export: { format: "minimal" } },
      destinations: [{ connectionId: big.connectionId, import: { action: "addLabels", labelIds: ["IMPORTANT"] } }],
      trigger: { type: "schedule", every: "1m" },
    });
    const id = res.json().id;
    await w.google.admin("PUT", "/settings", { latencyMs: 40 });
    try {
      await until(async () => (await runsOf(w, id)).some((r) => r.status === "running"), "the first run running");
      for (let i = 0; i < 3; i++) {
        c.advance(MIN);
        await ticker(w.t.app).check();
      }
      const during = await runsOf(w, id);
      expect(during).toHaveLength(1); // no pile, no error
      const [row] = await w.t.store.db.query("SELECT pending_trigger FROM flow_triggers WHERE flow_id = $1", [id]);
      expect(row!.pending_trigger).toBe("schedule");
    } finally {
      await w.google.admin("PUT", "/settings", { latencyMs: 0 });
    }
    const runs = await until(async () => ((r) => r.length === 2 && settled(r) && r)(await runsOf(w, id)), "the follow-up run");
    expect(runs.map((r) => [r.trigger, r.status])).toEqual([
      ["schedule", "succeeded"],
      ["schedule", "succeeded"],
    ]);
    const [row] = await w.t.store.db.query("SELECT pending_trigger FROM flow_triggers WHERE flow_id = $1", [id]);
    expect(row!.pending_trigger).toBeNull();
  });
});
