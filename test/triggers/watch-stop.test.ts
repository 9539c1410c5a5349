/**
 * A Gmail watch follows its connection at once, not at the hourly reconcile: the source
 * connection going offline (Google refuses its refresh token) or being deauthorized stops the
 * mailbox's watch straight away, and the flow's watch state says why; authorized again, the
 * mailbox is watched again and the reason goes. (A connection a flow uses cannot be deleted:
 * 409; deleting the flow stops the watch, covered in push.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flowWorld, type FlowWorld } from "../flows/support.ts";
import { authorizeConnection } from "../support/google.ts";
import { until } from "./support.ts";

const TOPIC = "projects/mb-test/topics/gmail-stop";

describe("watches stopped when the source connection goes", () => {
  let w: FlowWorld;

  beforeAll(async () => {
    // The hourly reconcile never runs here (an hour is long): only the connection's change can stop a watch.
    w = await flowWorld({ env: { GMAIL_PUSH_TOPIC: TOPIC }, deps: { triggers: { watchReconcileMs: 3_600_000 } } });
  });
  afterAll(() => w?.close());

  const watchRow = async (email: string) => (await w.t.store.db.query("SELECT * FROM gmail_watches WHERE email = $1", [email]))[0];
  const flowOn = async (src: { connectionId: string }, dst: { connectionId: string }) => {
    const res = await w.a.post("/v1/flows", {
      name: `watched ${Math.random().toString(36).slice(2, 8)}`,
      source: { connectionId: src.connectionId, export: { format: "metadata" } },
      destinations: [{ connectionId: dst.connectionId, import: { action: "insert" } }],
      trigger: { type: "gmail", labelIds: ["INBOX"] },
    });
    expect(res.statusCode, res.body).toBe(201);
    return res.json().id as string;
  };
  const watchView = async (id: string) => (await w.a.get(`/v1/flows/${id}`)).json().watch;

  it("stops the watch at once when Google refuses the connection's refresh token, and says why", async () => {
    // Short-lived access tokens: the next call refreshes, and Google's answer to the revoked grant takes the connection offline.
    await w.google.admin("PUT", "/settings", { accessTokenTtlSeconds: 30 });
    try {
      const src = await w.mailbox();
      const dst = await w.mailbox();
      const id = await flowOn(src, dst);
      expect(await watchRow(src.email)).toBeDefined();
      expect(await watchView(id)).toMatchObject({ mode: "push", expiresAt: expect.any(String) });

      await w.google.admin("POST", `/users/${encodeURIComponent(src.email)}/revoke`, {});
      const test = (await w.a.post(`/v1/connections/${src.connectionId}/test`, {})).json();
      expect(test).toMatchObject({ ok: false });
      expect((await w.a.get(`/v1/connections/${src.connectionId}`)).json().status).toBe("offline");

      await until(async () => !(await watchRow(src.email)), "the watch stopped");
      const view = await until(async () => ((v) => v.stoppedReason && v)(await watchView(id)), "the watch state's reason");
      expect(view).toMatchObject({ mode: "push", expiresAt: null, stoppedReason: "connection_offline", stoppedAt: expect.any(String) });

      // Authorized again: watched again, and the reason goes.
      expect((await authorizeConnection(w.t.app, w.t.adminToken, src.connectionId, { email: src.email })).statusCode).toBe(200);
      await until(async () => !!(await watchRow(src.email)), "watched again");
      const again = await until(async () => ((v) => !v.stoppedReason && v)(await watchView(id)), "the reason gone");
      expect(again).toMatchObject({ mode: "push", expiresAt: expect.any(String) });
    } finally {
      await w.google.admin("PUT", "/settings", { accessTokenTtlSeconds: 3599 });
    }
  });

  it("stops the watch at once when the connection is deauthorized, and says why", async () => {
    const src = await w.mailbox();
    const dst = await w.mailbox();
    const id = await flowOn(src, dst);
    expect(await watchRow(src.email)).toBeDefined();
    await w.google.admin("POST", "/stats/reset", {});

    expect((await w.a.post(`/v1/connections/${src.connectionId}/deauthorize`, {})).statusCode).toBe(200);
    await until(async () => !(await watchRow(src.email)), "the watch stopped");
    const view = await until(async () => ((v) => v.stoppedReason && v)(await watchView(id)), "the watch state's reason");
    expect(view).toMatchObject({ mode: "push", expiresAt: null, stoppedReason: "connection_deauthorized" });
    // The flow cannot lose its source under it.
    expect((await w.a.delete(`/v1/connections/${src.connectionId}`)).statusCode).toBe(409);
  });
});
