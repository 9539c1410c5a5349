/**
 * The flows API: create, list (paged), get, change and delete; validation of
 * sources and destinations; another account's flows and connections answer
 * 404; a connection a flow uses cannot be deleted; the lookup.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api } from "../support/app.ts";
import { flowWorld, rawMessage, type FlowWorld } from "./support.ts";

describe("the flows API", () => {
  let w: FlowWorld;
  let src: { email: string; connectionId: string };
  let dst: { email: string; connectionId: string };

  beforeAll(async () => {
    w = await flowWorld();
    src = await w.mailbox({
      messages: [
        { raw: rawMessage({ to: "x@example.com", subject: "Invoice 42 for March", from: "Billing <billing@acme.example>" }) },
        { raw: rawMessage({ to: "x@example.com", subject: "Lunch?" }) },
      ],
    });
    dst = await w.mailbox();
  });
  afterAll(() => w?.close());

  const body = () => ({
    name: "Backup",
    source: { connectionId: src.connectionId, export: { query: "invoice" } },
    destinations: [{ connectionId: dst.connectionId, import: { action: "insert" } }],
  });

  it("creates, gets, lists, changes and deletes a flow, with export defaults filled in", async () => {
    const created = await w.a.post("/v1/flows", body());
    expect(created.statusCode).toBe(201);
    const flow = created.json();
    expect(flow).toMatchObject({
      name: "Backup",
      source: { connectionId: src.connectionId, export: { query: "invoice", format: "full", attachments: "metadata", incremental: false } },
      destinations: [{ connectionId: dst.connectionId, import: { action: "insert" } }],
    });
    // No message limit unless the flow sets one (issue 11): no default cap is filled in.
    expect(flow.source.export).not.toHaveProperty("maxMessages");
    expect(flow.id).toMatch(/^flw_/);
    expect((await w.a.get(`/v1/flows/${flow.id}`)).json()).toEqual(flow);
    expect((await w.a.post("/v1/flows", body())).json().error.code).toBe("name_taken");

    const patched = await w.a.patch(`/v1/flows/${flow.id}`, { name: "Backup 2", destinations: [{ connectionId: dst.connectionId, import: { action: "send" }, mapping: { subject: "[fwd] {{subject}}" } }] });
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json()).toMatchObject({ name: "Backup 2", destinations: [{ import: { action: "send" }, mapping: { subject: "[fwd] {{subject}}" } }] });

    const second = await w.flow({ ...body(), name: "Another" });
    const page1 = (await w.a.get("/v1/flows?limit=1")).json();
    expect(page1.items.map((f: any) => f.id)).toEqual([flow.id]);
    const page2 = (await w.a.get(`/v1/flows?limit=1&cursor=${page1.nextCursor}`)).json();
    expect(page2.items.map((f: any) => f.id)).toEqual([second]);

    expect((await w.a.delete(`/v1/flows/${flow.id}`)).statusCode).toBe(204);
    expect((await w.a.get(`/v1/flows/${flow.id}`)).statusCode).toBe(404);
    expect((await w.a.delete(`/v1/flows/${second}`)).statusCode).toBe(204);
  });

  it.each([
    ["no destination", { destinations: [] }],
    ["eleven destinations", { destinations: Array.from({ length: 11 }, () => ({ connectionId: "con_x", import: { action: "insert" } })) }],
    ["an unknown action", { destinations: [{ connectionId: "con_x", import: { action: "forward" } }] }],
    ["an unknown field", { source: { connectionId: "con_x", export: { q: "x" } } }],
    ["maxMessages over 100,000,000", { source: { connectionId: "con_x", export: { maxMessages: 100_000_001 } } }],
    ["maxMessages 0", { source: { connectionId: "con_x", export: { maxMessages: 0 } } }],
    ["a fractional maxMessages", { source: { connectionId: "con_x", export: { maxMessages: 1.5 } } }],
    ["a bad format", { source: { connectionId: "con_x", export: { format: "html" } } }],
  ])("refuses %s with 400", async (_what, change) => {
    const res = await w.a.post("/v1/flows", { ...body(), ...change });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe("validation_failed");
  });

  it("keeps maxMessages as an optional cap of any size, on every kind of flow", async () => {
    for (const [name, maxMessages] of [["Big cap", 250_000], ["Largest cap", 100_000_000]] as const) {
      const res = await w.a.post("/v1/flows", { ...body(), name, source: { connectionId: src.connectionId, export: { maxMessages } } });
      expect(res.statusCode, res.body).toBe(201);
      expect(res.json().source.export.maxMessages).toBe(maxMessages);
    }
    // A Gmail-to-Gmail flow with no cap exports every matching message (here both), not a default few.
    const all = await w.flow({ ...body(), name: "Everything", source: { connectionId: src.connectionId, export: {} } });
    expect((await w.run(all)).progress).toEqual({ exported: 2, imported: 2, failed: 0 });
  });

  it("refuses rules the schema cannot say", async () => {
    const bad = async (destination: object) => (await w.a.post("/v1/flows", { ...body(), destinations: [destination] })).json().error;
    expect(await bad({ connectionId: dst.connectionId, import: { action: "trash" } })).toMatchObject({ code: "validation_failed", message: expect.stringContaining("source connection") });
    expect(await bad({ connectionId: src.connectionId, import: { action: "addLabels" } })).toMatchObject({ code: "validation_failed", message: expect.stringContaining("required") });
    expect(await bad({ connectionId: dst.connectionId, import: { action: "insert" }, mapping: { subject: "x" } })).toMatchObject({ code: "validation_failed" });
    expect(await bad({ connectionId: dst.connectionId, import: { action: "send", labelIds: ["INBOX"] } })).toMatchObject({ code: "validation_failed" });
    // The same connection as source: in-place actions are fine.
    expect((await w.a.post("/v1/flows", { ...body(), name: "Tidy", destinations: [{ connectionId: src.connectionId, import: { action: "addLabels", labelIds: ["STARRED"] } }] })).statusCode).toBe(201);
  });

  it("keeps accounts apart: another account's flows, runs and connections answer 404", async () => {
    const flowId = await w.flow({ ...body(), name: "Mine" });
    const other = api(w.t.app, await w.t.newAccount());
    expect((await other.get(`/v1/flows/${flowId}`)).statusCode).toBe(404);
    expect((await other.post(`/v1/flows/${flowId}/run`)).statusCode).toBe(404);
    expect((await other.delete(`/v1/flows/${flowId}`)).statusCode).toBe(404);
    expect((await other.get("/v1/flows")).json().items).toEqual([]);
    // Using my connections from the other account.
    const res = await other.post("/v1/flows", body());
    expect(res.statusCode).toBe(404);
    expect((await other.post(`/v1/connections/${src.connectionId}/lookup`, { query: "x" })).statusCode).toBe(404);
    const run = await w.run(flowId);
    expect((await other.get(`/v1/runs/${run.id}`)).statusCode).toBe(404);
    expect((await other.post(`/v1/runs/${run.id}/cancel`)).statusCode).toBe(404);
  });

  it("refuses to delete a connection a flow uses (409 naming the flow), and allows it once the flow is gone", async () => {
    const spare = await w.mailbox();
    const flowId = await w.flow({ ...body(), name: "Uses spare", destinations: [{ connectionId: spare.connectionId, import: { action: "import" } }] });
    const res = await w.a.delete(`/v1/connections/${spare.connectionId}`);
    expect(res.statusCode).toBe(409);
    expect(res.json().error).toMatchObject({ code: "in_use", details: { flows: [{ id: flowId, name: "Uses spare" }] } });
    // Moving the flow to another destination releases the connection.
    await w.a.patch(`/v1/flows/${flowId}`, { destinations: [{ connectionId: dst.connectionId, import: { action: "import" } }] });
    expect((await w.a.delete(`/v1/connections/${spare.connectionId}`)).statusCode).toBe(204);
  });

  it("looks messages up by a query", async () => {
    const res = await w.a.post(`/v1/connections/${src.connectionId}/lookup`, { query: "subject:invoice", maxResults: 5 });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().messages).toEqual([
      { id: expect.any(String), threadId: expect.any(String), from: "Billing <billing@acme.example>", to: "x@example.com", subject: "Invoice 42 for March", date: expect.any(String), snippet: expect.any(String) },
    ]);
    expect((await w.a.post(`/v1/connections/${src.connectionId}/lookup`, { query: "x", maxResults: 101 })).statusCode).toBe(400);
  });
});
