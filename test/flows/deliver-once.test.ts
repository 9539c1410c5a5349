/**
 * A destination send is never made twice for one record: not by a second run,
 * and not when a run is retried after a crash that left a delivery pending
 * after Google had already sent the message.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deliveryMessageId } from "../../server/flows/deliveries.ts";
import { flowWorld, rawMessage, type FlowWorld } from "./support.ts";

describe("deliver once", () => {
  let w: FlowWorld;

  beforeAll(async () => {
    w = await flowWorld();
  });
  afterAll(() => w?.close());

  const sentCount = async (email: string, subject: string) =>
    (await w.user(email)).messages.filter((m) => m.labelIds.includes("SENT") && m.subject === subject).length;

  it("does not send again on a second run of the same records", async () => {
    const src = await w.mailbox({ messages: [{ raw: rawMessage({ to: "a@example.com", subject: "once only" }) }] });
    const dst = await w.mailbox();
    const flowId = await w.flow({ source: { connectionId: src.connectionId, export: { query: "subject:once" } }, destinations: [{ connectionId: dst.connectionId, import: { action: "send" } }] });
    expect((await w.run(flowId)).progress).toEqual({ exported: 1, imported: 1, failed: 0 });
    expect((await w.run(flowId)).progress).toEqual({ exported: 1, imported: 1, failed: 0 });
    expect(await sentCount(dst.email, "Fwd: once only")).toBe(1);
  });

  it("finds a message sent before a crash (pending delivery) instead of sending it again", async () => {
    const src = await w.mailbox({
      messages: [
        { raw: rawMessage({ to: "a@example.com", subject: "crash one" }) },
        { raw: rawMessage({ to: "a@example.com", subject: "crash two" }) },
      ],
    });
    const dst = await w.mailbox();
    const flowId = await w.flow({ source: { connectionId: src.connectionId, export: { query: "subject:crash" } }, destinations: [{ connectionId: dst.connectionId, import: { action: "send" } }] });
    const first = await w.run(flowId);
    expect(first.progress).toEqual({ exported: 2, imported: 2, failed: 0 });
    // The crash: Google sent both, but the process died before recording it, so the rows stayed pending.
    await w.t.store.db.query("UPDATE flow_deliveries SET status = 'pending', destination_message_id = NULL WHERE flow_id = $1", [flowId]);
    // One of them a Message-ID this test can compute: the deterministic one the run gave the message.
    const rows = await w.t.store.db.query<{ source_message_id: string; rfc822_message_id: string }>("SELECT * FROM flow_deliveries WHERE flow_id = $1", [flowId]);
    const destinationId = (await w.a.get(`/v1/flows/${flowId}`)).json().destinations[0].id;
    for (const r of rows) expect(r.rfc822_message_id).toBe(deliveryMessageId({ flowId, destinationId, sourceMessageId: r.source_message_id }));

    // The retried run finds both in the destination mailbox.
    const retried = await w.run(flowId);
    expect(retried).toMatchObject({ status: "succeeded", progress: { exported: 2, imported: 2, failed: 0 } });
    expect(await sentCount(dst.email, "Fwd: crash one")).toBe(1);
    expect(await sentCount(dst.email, "Fwd: crash two")).toBe(1);
    const done = await w.t.store.db.query("SELECT status, destination_message_id FROM flow_deliveries WHERE flow_id = $1", [flowId]);
    expect(done.every((r) => r.status === "done" && r.destination_message_id)).toBe(true);
  });

  it("sends a pending delivery whose message never reached Google", async () => {
    const src = await w.mailbox({ messages: [{ raw: rawMessage({ to: "a@example.com", subject: "never sent" }) }] });
    const dst = await w.mailbox();
    const flowId = await w.flow({ source: { connectionId: src.connectionId, export: { query: "subject:never" } }, destinations: [{ connectionId: dst.connectionId, import: { action: "send" } }] });
    const [message] = (await w.user(src.email)).messages;
    const destinationId = (await w.a.get(`/v1/flows/${flowId}`)).json().destinations[0].id;
    const key = { flowId, destinationId, sourceMessageId: message!.id };
    // A crash before the send: the pending row exists, Google has nothing.
    await w.t.store.db.query(
      "INSERT INTO flow_deliveries (flow_id, destination_id, source_message_id, status, rfc822_message_id) VALUES ($1, $2, $3, 'pending', $4)",
      [flowId, destinationId, message!.id, deliveryMessageId(key)],
    );
    expect((await w.run(flowId)).progress).toEqual({ exported: 1, imported: 1, failed: 0 });
    expect(await sentCount(dst.email, "Fwd: never sent")).toBe(1);
  });
});
