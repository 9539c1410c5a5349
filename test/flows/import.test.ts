/**
 * Each import action, with what lands in the destination mailbox asserted
 * through the emulator; and a record failing in one destination is counted
 * while the others go on.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flowWorld, rawMessage, type FlowWorld } from "./support.ts";

describe("Gmail as a flow destination", () => {
  let w: FlowWorld;
  let src: { email: string; connectionId: string };
  let dst: { email: string; connectionId: string };

  beforeAll(async () => {
    w = await flowWorld();
    src = await w.mailbox({
      messages: [
        { raw: rawMessage({ to: "me@example.com", subject: "Quarterly numbers", text: "Revenue is up.", from: "Alice <alice@example.com>", messageId: "<q1@example.com>" }) },
        { raw: rawMessage({ to: "me@example.com", subject: "Unrelated", text: "Nothing." }) },
      ],
    });
    dst = await w.mailbox();
  });
  afterAll(() => w?.close());

  const source = () => ({ connectionId: src.connectionId, export: { query: "from:alice@example.com subject:quarterly" } });

  it("send composes a new message from the record with the mapping's templates", async () => {
    const flowId = await w.flow({
      source: source(),
      destinations: [{ connectionId: dst.connectionId, import: { action: "send" }, mapping: { subject: "[{{from}}] {{subject}}", text: "Got: {{text}}" } }],
    });
    const run = await w.run(flowId);
    expect(run).toMatchObject({ status: "succeeded", progress: { exported: 1, imported: 1, failed: 0 }, errors: [] });
    const sent = (await w.user(dst.email)).messages.filter((m) => m.labelIds.includes("SENT"));
    expect(sent).toEqual([expect.objectContaining({ subject: "[Alice <alice@example.com>] Quarterly numbers", to: dst.email, from: dst.email })]);
    expect(sent[0]!.labelIds).toContain("INBOX"); // sent to itself by default
    const lookup = (await w.a.post(`/v1/connections/${dst.connectionId}/lookup`, { query: "subject:quarterly" })).json();
    expect(lookup.messages[0].snippet).toContain("Got: Revenue is up.");
  });

  it("reply answers in the source thread from the destination account", async () => {
    const flowId = await w.flow({ source: source(), destinations: [{ connectionId: src.connectionId, import: { action: "reply" }, mapping: { text: "Thanks!" } }] });
    expect((await w.run(flowId)).status).toBe("succeeded");
    const box = await w.user(src.email);
    const original = box.messages.find((m) => m.subject === "Quarterly numbers")!;
    const reply = box.messages.find((m) => m.subject === "Re: Quarterly numbers")!;
    expect(reply).toMatchObject({ threadId: original.threadId, to: "Alice <alice@example.com>", from: src.email });
    expect(reply.labelIds).toContain("SENT");
  });

  it("draft saves a draft in the destination mailbox", async () => {
    const flowId = await w.flow({ source: source(), destinations: [{ connectionId: dst.connectionId, import: { action: "draft" }, mapping: { to: "boss@example.com" } }] });
    expect((await w.run(flowId)).status).toBe("succeeded");
    const box = await w.user(dst.email);
    expect(box.drafts).toHaveLength(1);
    expect(box.messages.find((m) => m.labelIds.includes("DRAFT"))).toMatchObject({ to: "boss@example.com", subject: "Fwd: Quarterly numbers" });
  });

  it("insert and import copy the raw source message, with the given labels", async () => {
    const backup = await w.mailbox();
    const label = (await w.user(backup.email)).labels.find((l) => l.id === "STARRED")!;
    const flowId = await w.flow({
      source: { connectionId: src.connectionId, export: { query: "from:alice@example.com OR subject:unrelated", format: "metadata" } },
      destinations: [
        { connectionId: backup.connectionId, import: { action: "insert", labelIds: [label.id] } },
        { connectionId: backup.connectionId, import: { action: "import" } },
      ],
    });
    const run = await w.run(flowId);
    expect(run).toMatchObject({ status: "succeeded", progress: { exported: 2, imported: 2, failed: 0 } });
    const box = await w.user(backup.email);
    const copies = box.messages.filter((m) => m.subject === "Quarterly numbers");
    expect(copies).toHaveLength(2);
    expect(copies.map((m) => m.labelIds.sort())).toEqual(expect.arrayContaining([["STARRED"], ["INBOX", "UNREAD"]]));
    expect(copies.every((m) => m.from === "Alice <alice@example.com>")).toBe(true);
  });

  it("a flow that only copies reads each source message once (raw), its Message-ID into the ledger", async () => {
    const own = await w.mailbox({
      messages: [
        { raw: rawMessage({ to: "me@example.com", subject: "copy once a", messageId: "<once-a@example.com>" }), labelIds: ["INBOX"] },
        { raw: rawMessage({ to: "me@example.com", subject: "copy once b", messageId: "<once-b@example.com>" }), labelIds: ["INBOX", "STARRED"] },
      ],
    });
    const copy = await w.mailbox();
    const flowId = await w.flow({
      source: { connectionId: own.connectionId, export: { query: "subject:once", format: "metadata" } },
      destinations: [{ connectionId: copy.connectionId, import: { action: "insert" } }],
    });
    const requests = async () => ((await w.google.admin("GET", "/stats")).users as Record<string, { requests: number }>)[own.email]?.requests ?? 0;
    const before = await requests();
    expect(await w.run(flowId)).toMatchObject({ status: "succeeded", progress: { exported: 2, imported: 2, failed: 0 } });
    // messages.list once, then one messages.get per message (not metadata and then raw).
    expect((await requests()) - before).toBe(3);
    const copies = (await w.user(copy.email)).messages;
    expect(copies.map((m) => m.subject).sort()).toEqual(["copy once a", "copy once b"]);
    const ledger = await w.t.store.db.query<{ rfc822_message_id: string; status: string }>("SELECT rfc822_message_id, status FROM flow_deliveries WHERE flow_id = $1 ORDER BY 1", [flowId]);
    expect(ledger).toEqual([
      { rfc822_message_id: "<once-a@example.com>", status: "done" },
      { rfc822_message_id: "<once-b@example.com>", status: "done" },
    ]);
  });

  it("addLabels, removeLabels and trash act on the source messages themselves", async () => {
    const own = await w.mailbox({ messages: [{ raw: rawMessage({ to: "a@example.com", subject: "tidy me" }), labelIds: ["INBOX", "UNREAD"] }] });
    const run = async (dest: object) => expect((await w.run(await w.flow({ source: { connectionId: own.connectionId, export: { query: "subject:tidy" } }, destinations: [dest] }))).status).toBe("succeeded");
    const labels = async () => (await w.user(own.email)).messages[0]!.labelIds.sort();
    await run({ connectionId: own.connectionId, import: { action: "addLabels", labelIds: ["STARRED", "IMPORTANT"] } });
    expect(await labels()).toEqual(["IMPORTANT", "INBOX", "STARRED", "UNREAD"]);
    await run({ connectionId: own.connectionId, import: { action: "removeLabels", labelIds: ["UNREAD"] } });
    expect(await labels()).toEqual(["IMPORTANT", "INBOX", "STARRED"]);
    await run({ connectionId: own.connectionId, import: { action: "trash" } });
    expect(await labels()).toContain("TRASH");
  });

  it("counts a record failing in one destination and goes on with the others", async () => {
    // A destination without the insert scope fails each record; the send destination still gets them.
    const readonly = await w.mailbox({ scopes: ["https://www.googleapis.com/auth/gmail.readonly"] });
    const ok = await w.mailbox();
    const flowId = await w.flow({
      source: { connectionId: src.connectionId, export: { query: "from:alice@example.com OR subject:unrelated" } },
      destinations: [
        { connectionId: readonly.connectionId, import: { action: "insert" } },
        { connectionId: ok.connectionId, import: { action: "send" } },
      ],
    });
    const run = await w.run(flowId);
    expect(run).toMatchObject({ status: "succeeded", progress: { exported: 2, imported: 0, failed: 2 } });
    expect(run.errors).toEqual([
      expect.objectContaining({ record: expect.any(String), destination: 0, code: "missing_scope" }),
      expect.objectContaining({ record: expect.any(String), destination: 0, code: "missing_scope" }),
    ]);
    expect((await w.user(ok.email)).messages.filter((m) => m.labelIds.includes("SENT"))).toHaveLength(2);
  });
});
