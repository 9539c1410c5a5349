/**
 * Transient failures never fail a run or a record: with Google answering 503
 * to a fifth of the calls, or the store refusing the first deliveries' writes
 * with a connection error, the run is retried from its deliveries ledger and
 * ends succeeded with every record delivered exactly once. A permanent error
 * still fails its record, with its code.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { flowWorld, rawMessage, type FlowWorld } from "./support.ts";

describe("runs through transient failures (single-process mode)", () => {
  let w: FlowWorld;

  beforeAll(async () => {
    // Call-level 5xx retries are not the run level's: the run is retried, quickly here.
    w = await flowWorld({ deps: { flows: { retry: { attempts: 30, baseMs: 20, maxMs: 200 } } } });
  });
  afterAll(() => w?.close());
  afterEach(async () => {
    await w.google.admin("PUT", "/settings", { faults: null });
  });

  const listed = async (email: string) => (await w.user(email)).messages.filter((m) => !m.labelIds.some((l) => l === "SPAM" || l === "TRASH"));
  const multiset = (xs: string[]) => [...xs].sort();

  it("ends succeeded with every record sent and copied once while Google answers 503 to 20 % of calls", async () => {
    const src = await w.mailbox({ generate: 40 });
    const sendTo = await w.mailbox();
    const copyTo = await w.mailbox();
    const flowId = await w.flow({
      source: { connectionId: src.connectionId, export: { format: "raw", maxMessages: 100 } },
      destinations: [
        { connectionId: sendTo.connectionId, import: { action: "send" } },
        { connectionId: copyTo.connectionId, import: { action: "insert" } },
      ],
    });
    const records = await listed(src.email);
    await w.google.admin("PUT", "/settings", { faults: { status: 503, rate: 0.2 } });
    const run = await w.run(flowId);
    await w.google.admin("PUT", "/settings", { faults: null });

    expect(run).toMatchObject({ status: "succeeded", progress: { exported: records.length, imported: records.length, failed: 0 }, errors: [] });
    const sent = (await w.user(sendTo.email)).messages.filter((m) => m.labelIds.includes("SENT"));
    expect(multiset(sent.map((m) => m.subject))).toEqual(multiset(records.map((m) => `Fwd: ${m.subject}`)));
    const copies = (await w.user(copyTo.email)).messages;
    expect(multiset(copies.map((m) => `${m.from}|${m.subject}`))).toEqual(multiset(records.map((m) => `${m.from}|${m.subject}`)));
    // It took more than one attempt: the faults did hit.
    const [row] = await w.t.store.db.query<{ attempts: number }>("SELECT attempts FROM flow_runs WHERE id = $1", [run.id]);
    expect(row!.attempts).toBeGreaterThan(1);
  });

  it("does not count a record failed when recording its delivery meets a database connection error", async () => {
    const src = await w.mailbox({
      messages: ["one", "two", "three", "four"].map((s) => ({ raw: rawMessage({ to: "a@example.com", subject: `blip ${s}` }) })),
    });
    const dst = await w.mailbox();
    const flowId = await w.flow({ source: { connectionId: src.connectionId, export: { query: "subject:blip" } }, destinations: [{ connectionId: dst.connectionId, import: { action: "send" } }] });
    // The first three claims of a delivery fail as a lost connection would (SQLSTATE 08006).
    const db = w.t.store.db;
    // (A sequence, since the failing statement rolls back anything else the trigger writes.)
    await db.query("CREATE SEQUENCE blip_seq");
    await db.query(`CREATE FUNCTION blip() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF nextval('blip_seq') <= 3 THEN RAISE EXCEPTION 'connection lost' USING ERRCODE = '08006'; END IF;
        RETURN NEW;
      END $$`);
    await db.query("CREATE TRIGGER blip BEFORE INSERT ON flow_deliveries FOR EACH ROW EXECUTE FUNCTION blip()");
    try {
      const run = await w.run(flowId);
      expect(run).toMatchObject({ status: "succeeded", progress: { exported: 4, imported: 4, failed: 0 }, errors: [] });
      expect(Number((await db.query("SELECT last_value FROM blip_seq"))[0]!.last_value)).toBeGreaterThan(3);
      const sent = (await w.user(dst.email)).messages.filter((m) => m.labelIds.includes("SENT"));
      expect(multiset(sent.map((m) => m.subject))).toEqual(["Fwd: blip four", "Fwd: blip one", "Fwd: blip three", "Fwd: blip two"]);
    } finally {
      await db.query("DROP TRIGGER blip ON flow_deliveries");
    }
  });

  it("fails the run with the code of a permanent error, without retrying it", async () => {
    const src = await w.mailbox({ messages: [{ raw: rawMessage({ to: "a@example.com", subject: "refused" }) }] });
    const dst = await w.mailbox();
    const flowId = await w.flow({ source: { connectionId: src.connectionId, export: { query: "subject:refused" } }, destinations: [{ connectionId: dst.connectionId, import: { action: "send" } }] });
    await w.google.admin("PUT", "/settings", { faults: { status: 400, rate: 1 } });
    const run = await w.run(flowId);
    expect(run).toMatchObject({ status: "failed", progress: { exported: 0, imported: 0, failed: 0 } });
    expect(run.errors[0]).toMatchObject({ code: "google_error" });
    const [row] = await w.t.store.db.query<{ attempts: number }>("SELECT attempts FROM flow_runs WHERE id = $1", [run.id]);
    expect(row!.attempts).toBe(1);
  });
});
