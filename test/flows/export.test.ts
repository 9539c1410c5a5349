/**
 * Gmail as a flow source: by query and labels, in each format, attachments as
 * metadata or content, paging past 500 messages, and incremental runs from a
 * historyId checkpoint with a full resync when Google answers 404.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flowWorld, rawMessage, type FlowWorld } from "./support.ts";

describe("Gmail as a flow source", () => {
  let w: FlowWorld;
  let big: { email: string; connectionId: string };

  beforeAll(async () => {
    w = await flowWorld();
    // This suite is about what is exported, not about quota (the choke point's tests are).
    await w.google.admin("PUT", "/settings", { quotaUnitsPerMinute: 1_000_000 });
    big = await w.mailbox({ generate: 560 });
    await w.a.patch(`/v1/connections/${big.connectionId}`, { concurrencyLevel: 25 });
  });
  afterAll(() => w?.close());

  /** Run a flow that exports from the big mailbox into an addLabels destination on itself. */
  const tagRun = async (exportSpec: object) => {
    const own = big.connectionId;
    const flowId = await w.flow({ source: { connectionId: own, export: exportSpec }, destinations: [{ connectionId: own, import: { action: "addLabels", labelIds: ["IMPORTANT"] } }] });
    return w.run(flowId);
  };

  it("pages through more than 500 messages with no limit unless maxMessages caps it", async () => {
    const all = (await w.user(big.email)).messages.filter((m) => !m.labelIds.some((l) => l === "SPAM" || l === "TRASH"));
    expect(all.length).toBeGreaterThan(500); // past one listing page, and past the 500 a run once stopped at by default
    const run = await tagRun({ format: "minimal" });
    expect(run).toMatchObject({ status: "succeeded", progress: { exported: all.length, imported: all.length, failed: 0 } });
    const capped = await tagRun({ format: "minimal", maxMessages: 3 });
    expect(capped.progress.exported).toBe(3);
  }, 120_000); // 560 labelled messages: about 29 s on a loaded 2-core machine, near the 30 s default

  it("exports by query and by labels", async () => {
    const box = await w.user(big.email);
    const travel = box.labels.find((l) => l.name === "Travel")!;
    const expected = box.messages.filter((m) => m.labelIds.includes(travel.id) && m.labelIds.includes("STARRED") && !m.labelIds.some((l) => l === "SPAM" || l === "TRASH"));
    expect((await tagRun({ format: "metadata", labelIds: [travel.id, "STARRED"] })).progress.exported).toBe(expected.length);
    const invoices = box.messages.filter((m) => /invoice/i.test(m.subject) && !m.labelIds.some((l) => l === "SPAM" || l === "TRASH"));
    expect(invoices.length).toBeGreaterThan(0);
    expect((await tagRun({ query: "subject:invoice", format: "metadata" })).progress.exported).toBe(invoices.length);
  });

  it("carries attachments' content to a composed message only when exported as content", async () => {
    const src = await w.mailbox({ generate: 40, attachments: true });
    const query = "has:attachment";
    const withAttachments = (await w.a.post(`/v1/connections/${src.connectionId}/lookup`, { query, maxResults: 2 })).json().messages;
    expect(withAttachments.length).toBeGreaterThan(0);
    const subject = withAttachments[0].subject;
    for (const [attachments, format, expectAttached] of [["content", "full", true], ["metadata", "full", false], ["content", "raw", true]] as const) {
      const out = await w.mailbox();
      const flowId = await w.flow({
        source: { connectionId: src.connectionId, export: { query: `${query} subject:"${subject}"`, format, attachments, maxMessages: 1 } },
        destinations: [{ connectionId: out.connectionId, import: { action: "send" } }],
      });
      expect((await w.run(flowId)).progress).toMatchObject({ exported: 1, imported: 1 });
      const found = (await w.a.post(`/v1/connections/${out.connectionId}/lookup`, { query: "has:attachment" })).json().messages;
      expect(found.length, `${format}/${attachments}`).toBe(expectAttached ? 1 : 0);
      expect((await w.user(out.email)).messages[0]!.subject).toBe(`Fwd: ${subject}`);
    }
  });

  it("runs incrementally from a historyId checkpoint, and resyncs in full when Google answers 404", async () => {
    const src = await w.mailbox({ messages: [{ raw: rawMessage({ to: "a@example.com", subject: "inc 1" }) }, { raw: rawMessage({ to: "a@example.com", subject: "inc 2" }) }] });
    const backup = await w.mailbox();
    const flowId = await w.flow({ source: { connectionId: src.connectionId, export: { incremental: true } }, destinations: [{ connectionId: backup.connectionId, import: { action: "insert" } }] });
    expect((await w.run(flowId)).progress).toEqual({ exported: 2, imported: 2, failed: 0 });
    const [checkpoint] = await w.t.store.db.query("SELECT history_id FROM flow_checkpoints WHERE flow_id = $1", [flowId]);
    expect(checkpoint!.history_id).toBe((await w.user(src.email)).historyId);

    // Nothing new: nothing exported.
    expect((await w.run(flowId)).progress).toEqual({ exported: 0, imported: 0, failed: 0 });
    // One new message: only it.
    await w.google.admin("POST", "/users", { email: src.email, messages: [{ raw: rawMessage({ to: "a@example.com", subject: "inc 3" }) }] });
    expect((await w.run(flowId)).progress).toEqual({ exported: 1, imported: 1, failed: 0 });
    expect((await w.user(backup.email)).messages.map((m) => m.subject).sort()).toEqual(["inc 1", "inc 2", "inc 3"]);

    // A checkpoint older than Google keeps history for: 404, full resync; deliveries keep the copies single.
    await w.t.store.db.query("UPDATE flow_checkpoints SET history_id = '1' WHERE flow_id = $1", [flowId]);
    const resync = await w.run(flowId);
    expect(resync).toMatchObject({ status: "succeeded", progress: { exported: 3, imported: 3, failed: 0 } });
    expect((await w.user(backup.email)).messages).toHaveLength(3);
    const [after] = await w.t.store.db.query("SELECT history_id FROM flow_checkpoints WHERE flow_id = $1", [flowId]);
    expect(after!.history_id).toBe((await w.user(src.email)).historyId);
    expect(w.t.logs.join("")).toContain("history checkpoint too old: full resync");
  });
  it("runs incrementally with a query: only the added messages it matches, read back from the database a page at a time", async () => {
    const src = await w.mailbox({ messages: [{ raw: rawMessage({ to: "a@example.com", subject: "old invoice" }) }] });
    const backup = await w.mailbox();
    const flowId = await w.flow({ source: { connectionId: src.connectionId, export: { incremental: true, query: "subject:invoice" } }, destinations: [{ connectionId: backup.connectionId, import: { action: "insert" } }] });
    expect((await w.run(flowId)).progress).toEqual({ exported: 1, imported: 1, failed: 0 });
    const subjects = ["invoice 1", "lunch", "invoice 2", "news", "invoice 3"];
    await w.google.admin("POST", "/users", { email: src.email, messages: subjects.map((subject) => ({ raw: rawMessage({ to: "a@example.com", subject }) })) });
    const run = await w.run(flowId);
    expect(run).toMatchObject({ status: "succeeded", progress: { exported: 3, imported: 3, failed: 0 } });
    expect((await w.user(backup.email)).messages.map((m) => m.subject).sort()).toEqual(["invoice 1", "invoice 2", "invoice 3", "old invoice"]);
    // The candidates a run collected are gone once it ended.
    expect(await w.t.store.db.query("SELECT 1 FROM run_candidates WHERE run_id = $1", [run.id])).toEqual([]);
    // maxMessages caps an incremental run too, oldest added first.
    await w.google.admin("POST", "/users", { email: src.email, messages: ["invoice 4", "invoice 5"].map((subject) => ({ raw: rawMessage({ to: "a@example.com", subject }) })) });
    await w.a.patch(`/v1/flows/${flowId}`, { source: { connectionId: src.connectionId, export: { incremental: true, query: "subject:invoice", maxMessages: 1 } } });
    expect((await w.run(flowId)).progress).toEqual({ exported: 1, imported: 1, failed: 0 });
    expect((await w.user(backup.email)).messages.map((m) => m.subject)).toContain("invoice 4");
  });
});
