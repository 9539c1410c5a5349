/**
 * RUN_CONCURRENCY: how many runs one process executes at once. Validated at start-up; with it
 * raised above the old fixed 4, that many runs are running together (Google answering slowly,
 * so none ends before the others start), and never more.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, DEFAULT_RUN_CONCURRENCY, loadConfig } from "../../server/config.ts";
import { flowWorld, rawMessage, type FlowWorld } from "./support.ts";

describe("RUN_CONCURRENCY configuration", () => {
  it("defaults, reads a whole number from 1 to 1000, and refuses anything else naming the variable", () => {
    expect(loadConfig({}, []).runConcurrency).toBe(DEFAULT_RUN_CONCURRENCY);
    expect(DEFAULT_RUN_CONCURRENCY).toBeGreaterThan(4);
    expect(loadConfig({ RUN_CONCURRENCY: "40" }, []).runConcurrency).toBe(40);
    for (const bad of ["0", "-3", "1.5", "many", "1001"]) {
      let err: unknown;
      try {
        loadConfig({ RUN_CONCURRENCY: bad }, []);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems.join("\n"), bad).toContain("RUN_CONCURRENCY");
    }
  });
});

describe("runs executing at once (single-process mode)", () => {
  const LIMIT = 6;
  const RUNS = 9;
  let w: FlowWorld;

  beforeAll(async () => {
    w = await flowWorld({ env: { RUN_CONCURRENCY: String(LIMIT) } });
  });
  afterAll(() => w?.close());

  it(`runs ${LIMIT} at once (more than the old 4), never more, and every run succeeds`, async () => {
    const dst = await w.mailbox();
    const flows: string[] = [];
    for (let i = 0; i < RUNS; i++) {
      const src = await w.mailbox({ messages: [{ raw: rawMessage({ to: "a@example.com", subject: `concurrent ${i}` }) }] });
      flows.push(await w.flow({ source: { connectionId: src.connectionId, export: { query: "subject:concurrent" } }, destinations: [{ connectionId: dst.connectionId, import: { action: "insert" } }] }));
    }
    // Each Gmail call takes a while, so a run lasts several seconds and the first ones are still running when the others could start.
    await w.google.admin("PUT", "/settings", { latencyMs: 1500 });
    try {
      const runIds: string[] = [];
      for (const flowId of flows) {
        const res = await w.a.post(`/v1/flows/${flowId}/run`);
        expect(res.statusCode, res.body).toBe(202);
        runIds.push(res.json().runId);
      }
      const running = async () => Number((await w.t.store.db.query<{ n: string }>("SELECT count(*) AS n FROM flow_runs WHERE id = ANY($1) AND status = 'running'", [runIds]))[0]!.n);
      const ended = async () => Number((await w.t.store.db.query<{ n: string }>("SELECT count(*) AS n FROM flow_runs WHERE id = ANY($1) AND status NOT IN ('queued', 'running')", [runIds]))[0]!.n);
      let most = 0;
      const deadline = Date.now() + 120_000;
      while ((await ended()) < RUNS) {
        most = Math.max(most, await running());
        expect(most).toBeLessThanOrEqual(LIMIT);
        if (Date.now() > deadline) throw new Error(`the runs did not end within 2 minutes (most running at once: ${most})`);
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(most).toBe(LIMIT);
      for (const id of runIds) expect(await w.waitRun(id)).toMatchObject({ status: "succeeded", progress: { exported: 1, imported: 1, failed: 0 } });
    } finally {
      await w.google.admin("PUT", "/settings", { latencyMs: 0 });
    }
    expect((await w.user(dst.email)).messages.map((m) => m.subject).sort()).toEqual(Array.from({ length: RUNS }, (_, i) => `concurrent ${i}`).sort());
  }, 180_000);
});
