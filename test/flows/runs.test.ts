/**
 * Runs: one at a time per flow (409), a source going offline fails the run
 * with its code, cancel, listing a flow's runs, and a run left behind by a
 * stopped process taken up again at the next start (single-process mode).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, startTestApp } from "../support/app.ts";
import { flowWorld, PUBLIC_URL, rawMessage, type FlowWorld } from "./support.ts";

describe("flow runs", () => {
  let w: FlowWorld;
  let src: { email: string; connectionId: string };
  let dst: { email: string; connectionId: string };

  beforeAll(async () => {
    w = await flowWorld();
    src = await w.mailbox({ generate: 60 });
    dst = await w.mailbox();
  });
  afterAll(() => w?.close());

  const tagFlow = (name?: string) =>
    w.flow({ ...(name ? { name } : {}), source: { connectionId: src.connectionId, export: { format: "minimal" } }, destinations: [{ connectionId: src.connectionId, import: { action: "addLabels", labelIds: ["IMPORTANT"] } }] });

  it("allows one queued or running run per flow, and lists a flow's runs", async () => {
    await w.google.admin("PUT", "/settings", { latencyMs: 20 });
    const flowId = await tagFlow();
    const first = await w.a.post(`/v1/flows/${flowId}/run`);
    expect(first.statusCode).toBe(202);
    const second = await w.a.post(`/v1/flows/${flowId}/run`);
    expect(second.statusCode).toBe(409);
    expect(second.json().error.code).toBe("conflict");
    const done = await w.waitRun(first.json().runId);
    await w.google.admin("PUT", "/settings", { latencyMs: 0 });
    expect(done).toMatchObject({ flowId, status: "succeeded", startedAt: expect.any(String), finishedAt: expect.any(String) });
    expect((await w.run(flowId)).status).toBe("succeeded");
    const page = (await w.a.get(`/v1/flows/${flowId}/runs?limit=1`)).json();
    expect(page.items).toHaveLength(1);
    expect(page.items[0].id).toBe(done.id);
    expect((await w.a.get(`/v1/flows/${flowId}/runs?cursor=${page.nextCursor}`)).json().items).toHaveLength(1);
  });

  it("fails the run with the source's code when the source connection goes offline", async () => {
    const gone = await w.mailbox({ messages: [{ raw: rawMessage({ to: "a@example.com", subject: "x" }) }] });
    const flowId = await w.flow({ source: { connectionId: gone.connectionId }, destinations: [{ connectionId: dst.connectionId, import: { action: "insert" } }] });
    // The user revokes access: the access token answers 401, and the refresh that follows invalid_grant.
    await w.google.admin("POST", `/users/${gone.email}/revoke`, {});
    const run = await w.run(flowId);
    expect(run.status).toBe("failed");
    expect(run.errors[0]).toMatchObject({ code: "token_revoked" });
    expect((await w.a.get(`/v1/connections/${gone.connectionId}`)).json()).toMatchObject({ status: "offline", offlineReason: { code: "token_revoked" } });
    // And fails at once, without calling Google, on the next run.
    expect((await w.run(flowId)).errors[0]).toMatchObject({ code: "token_revoked" });
  });

  it("cancels a running run; a finished run cannot be canceled", async () => {
    await w.google.admin("PUT", "/settings", { latencyMs: 40 });
    const flowId = await tagFlow();
    const { runId } = (await w.a.post(`/v1/flows/${flowId}/run`)).json();
    for (;;) {
      const r = (await w.a.get(`/v1/runs/${runId}`)).json();
      if (r.progress.exported > 0) break;
      await new Promise((res) => setTimeout(res, 10));
    }
    const canceled = await w.a.post(`/v1/runs/${runId}/cancel`);
    expect(canceled.statusCode).toBe(200);
    expect(canceled.json()).toMatchObject({ status: "canceled", finishedAt: expect.any(String) });
    const after = await w.waitRun(runId);
    await w.google.admin("PUT", "/settings", { latencyMs: 0 });
    expect(after.status).toBe("canceled");
    expect(after.progress.exported).toBeLessThan(60);
    // A new run may start at once.
    const next = await w.run(flowId);
    expect(next.status).toBe("succeeded");
    expect((await w.a.post(`/v1/runs/${next.id}/cancel`)).json().error.code).toBe("run_not_active");
  });

  it("takes up a run left running by a stopped process at the next start", async () => {
    const backup = await w.mailbox();
    const flowId = await w.flow({ source: { connectionId: src.connectionId, export: { query: "subject:invoice" } }, destinations: [{ connectionId: backup.connectionId, import: { action: "import" } }] });
    const runId = "run_leftbehind";
    await w.t.store.db.query(
      "INSERT INTO flow_runs (id, account_id, flow_id, status, started_at) SELECT $1, account_id, id, 'running', now() FROM flows WHERE id = $2",
      [runId, flowId],
    );
    // A second process on the same database starts and finds it.
    const again = await startTestApp({ store: w.t.store, secrets: w.t.secrets, env: { PUBLIC_URL, ...w.google.env } });
    try {
      const run = await (async () => {
        for (;;) {
          const r = (await api(again.app, w.t.adminToken).get(`/v1/runs/${runId}`)).json();
          if (!["queued", "running"].includes(r.status)) return r;
          await new Promise((res) => setTimeout(res, 15));
        }
      })();
      expect(run.status).toBe("succeeded");
      expect(run.progress.imported).toBe(run.progress.exported);
    } finally {
      await again.close();
    }
  });
});
