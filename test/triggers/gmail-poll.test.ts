/**
 * "When new mail arrives", by polling history (single process, injected
 * clock; mail arrives through the emulator's admin API over HTTP): only mail
 * arriving after enabling runs, each message is delivered once, label and
 * query filters hold, 14 messages arriving during a run all go out once in one
 * follow-up run, and a backfill delivers the recent past once.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flowWorld, rawMessage, type FlowWorld } from "../flows/support.ts";
import { clock, runsOf, settled, ticker, until } from "./support.ts";

const MIN = 60_000;

describe("Gmail-triggered flows, polling", () => {
  const c = clock(Date.parse("2026-03-02T08:00:00Z"));
  let w: FlowWorld;

  beforeAll(async () => {
    // One record at a time: a run with Google slowed down lasts long enough for mail to arrive during it.
    w = await flowWorld({ deps: { triggers: { now: c.now }, flows: { recordConcurrency: 1 } } });
  });
  afterAll(() => w?.close());

  /** Mail landing in the mailbox now. */
  const arrive = (email: string, subjects: string[], labelIds = ["INBOX", "UNREAD"], date?: Date) =>
    w.google.admin("POST", "/users", { email, messages: subjects.map((subject) => ({ raw: rawMessage({ to: email, subject, date }), labelIds })) });
  const poll = async () => {
    c.advance(MIN);
    await ticker(w.t.app).check();
  };
  const copyFlow = async (src: { connectionId: string }, dst: { connectionId: string }, trigger: Record<string, unknown>) => {
    const res = await w.a.post("/v1/flows", {
      name: `mail ${Math.random().toString(36).slice(2, 8)}`,
      source: { connectionId: src.connectionId, export: { format: "metadata" } },
      destinations: [{ connectionId: dst.connectionId, import: { action: "insert" } }],
      trigger: { type: "gmail", ...trigger },
    });
    expect(res.statusCode, res.body).toBe(201);
    await ticker(w.t.app).check(); // the poll made on enabling
    return res.json().id as string;
  };
  const subjects = async (email: string) => (await w.user(email)).messages.map((m) => m.subject).sort();
  const waitRuns = (id: string, n: number) => until(async () => ((r) => r.length === n && settled(r) && r)(await runsOf(w, id)), `${n} settled runs`);

  it("runs for mail arriving after enabling, once per message, and not for mail already there", async () => {
    const src = await w.mailbox({ generate: 4 });
    const dst = await w.mailbox();
    const id = await copyFlow(src, dst, { labelIds: ["INBOX"] });
    await poll();
    expect(await runsOf(w, id)).toHaveLength(0);

    await arrive(src.email, ["new one", "new two"]);
    await arrive(src.email, ["sent by me"], ["SENT"]); // not in INBOX: the trigger does not match it
    await poll();
    const [run] = await waitRuns(id, 1);
    expect(run).toMatchObject({ trigger: "poll", status: "succeeded", progress: { exported: 2, imported: 2, failed: 0 } });
    expect(await subjects(dst.email)).toEqual(["new one", "new two"]);
    expect((await w.a.get(`/v1/flows/${id}`)).json().watch).toMatchObject({ mode: "poll", lastNotificationAt: expect.any(String) });

    await poll();
    await poll();
    expect(await runsOf(w, id)).toHaveLength(1); // nothing new, no run

    await arrive(src.email, ["new three"]);
    // Saving the flow again with the same trigger (as the builder does) keeps its place: the new mail still runs.
    const same = await w.a.patch(`/v1/flows/${id}`, { name: `renamed ${id}`, trigger: { labelIds: ["INBOX"], type: "gmail" } });
    expect(same.statusCode, same.body).toBe(200);
    await poll();
    const runs = await waitRuns(id, 2);
    expect(runs[1]).toMatchObject({ trigger: "poll", progress: { exported: 1, imported: 1 } });
    expect(await subjects(dst.email)).toEqual(["new one", "new three", "new two"]);
  });

  it("costs one history.list (2 quota units) per poll when nothing arrived", async () => {
    const src = await w.mailbox({ generate: 5 });
    const dst = await w.mailbox();
    const id = await copyFlow(src, dst, { labelIds: ["INBOX"] });
    await w.google.admin("POST", "/stats/reset", {});
    for (let i = 0; i < 10; i++) await poll();
    const stats = (await w.google.admin("GET", "/stats")).users[src.email];
    expect(stats).toMatchObject({ requests: 10, quotaUnits: 20 });
    expect(await runsOf(w, id)).toHaveLength(0);
  });

  it("starts a run only for mail its query matches", async () => {
    const src = await w.mailbox();
    const dst = await w.mailbox();
    const id = await copyFlow(src, dst, { labelIds: ["INBOX"], query: "subject:invoice" });
    await arrive(src.email, ["weekly newsletter"]);
    await poll();
    expect(await runsOf(w, id)).toHaveLength(0);
    // Nothing the flow exports arrived: its checkpoint keeps up with the mailbox (so Google never forgets it).
    const [cp] = await w.t.store.db.query("SELECT history_id FROM flow_checkpoints WHERE flow_id = $1", [id]);
    expect(cp!.history_id).toBe((await w.user(src.email)).historyId);
    await arrive(src.email, ["invoice 42", "lunch?"]);
    await poll();
    const [run] = await waitRuns(id, 1);
    expect(run!.progress.exported).toBe(1);
    expect(await subjects(dst.email)).toEqual(["invoice 42"]);
  });

  it("delivers 14 messages arriving during a run, each once, in one follow-up run", async () => {
    const src = await w.mailbox();
    const dst = await w.mailbox();
    const id = await copyFlow(src, dst, { labelIds: ["INBOX"] });
    const first = Array.from({ length: 10 }, (_, i) => `first ${i}`);
    const burst = Array.from({ length: 14 }, (_, i) => `burst ${String(i).padStart(2, "0")}`);
    await arrive(src.email, first);
    await w.google.admin("PUT", "/settings", { latencyMs: 100 });
    try {
      await poll();
      // The run has listed what it exports: the burst lands after that.
      await until(async () => (await runsOf(w, id)).find((r) => r.status === "running" && r.progress.exported >= 1), "the first run under way");
      await arrive(src.email, burst);
      await poll();
      await poll();
      const during = await runsOf(w, id);
      expect(during.map((r) => r.status)).toEqual(["running"]);
      const [row] = await w.t.store.db.query("SELECT pending_trigger FROM flow_triggers WHERE flow_id = $1", [id]);
      expect(row!.pending_trigger).toBe("poll");
    } finally {
      await w.google.admin("PUT", "/settings", { latencyMs: 0 });
    }
    const runs = await waitRuns(id, 2);
    expect(runs.map((r) => [r.trigger, r.status, r.progress.exported, r.progress.imported])).toEqual([
      ["poll", "succeeded", 10, 10],
      ["poll", "succeeded", 14, 14],
    ]);
    expect(await subjects(dst.email)).toEqual([...first, ...burst].sort());
    await poll();
    expect(await runsOf(w, id)).toHaveLength(2);
  });

  it("backfills the recent past once when asked", async () => {
    const src = await w.mailbox();
    const dst = await w.mailbox();
    const day = 86_400_000;
    await arrive(src.email, ["two days old"], ["INBOX"], new Date(Date.now() - 2 * day));
    await arrive(src.email, ["a month old"], ["INBOX"], new Date(Date.now() - 30 * day));
    c.t = Date.now(); // the backfill window is measured on the service's clock
    const id = await copyFlow(src, dst, { labelIds: ["INBOX"], backfill: "7d" });
    const [run] = await waitRuns(id, 1);
    expect(run).toMatchObject({ trigger: "poll", progress: { exported: 1 } });
    expect(await subjects(dst.email)).toEqual(["two days old"]);
    await arrive(src.email, ["fresh"]);
    await poll();
    const runs = await waitRuns(id, 2);
    expect(runs[1]!.progress.exported).toBe(1);
    expect(await subjects(dst.email)).toEqual(["fresh", "two days old"]);
  });
});
