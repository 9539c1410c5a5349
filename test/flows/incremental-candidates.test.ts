/**
 * Where an incremental run keeps the messages added since its checkpoint: a collection that
 * fits one page is held in memory when nothing resumes from it (no round trip to the store); a
 * larger one, or a backup's, goes to the run's candidates in the store. Either way the run
 * gets the same ids, in history order, filtered by the query, capped by maxMessages. Against
 * the emulator over HTTP and the app's own store.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ExportSpec, GmailCaller } from "../../connector/gmail-export.ts";
import { planExport } from "../../server/flows/export-plan.ts";
import { CandidateStore } from "../../server/flows/run-candidates.ts";
import { CheckpointStore } from "../../server/flows/checkpoints.ts";
import { withExportDefaults } from "../../server/flows/flow.ts";
import { flowWorld, rawMessage, type FlowWorld } from "./support.ts";

describe("an incremental run's candidates", () => {
  let w: FlowWorld;
  let src: { email: string; connectionId: string };
  let call: GmailCaller;
  let candidates: CandidateStore;
  let checkpoints: CheckpointStore;
  let flowId: string;
  let n = 0;

  beforeAll(async () => {
    w = await flowWorld();
    src = await w.mailbox();
    const dst = await w.mailbox();
    const accountId = await w.accountId();
    call = (method, fn) => w.t.app.gmail.run(accountId, src.connectionId, method, fn);
    candidates = new CandidateStore(w.t.store.db);
    checkpoints = new CheckpointStore(w.t.store.db);
    flowId = await w.flow({ source: { connectionId: src.connectionId, export: { incremental: true } }, destinations: [{ connectionId: dst.connectionId, import: { action: "insert" } }] });
  }, 60_000);
  afterAll(() => w?.close());

  /** Add messages with these subjects after a fresh checkpoint; returns their ids, oldest first. */
  const arrive = async (subjects: string[]) => {
    await checkpoints.save(flowId, (await w.user(src.email)).historyId);
    await w.google.admin("POST", "/users", { email: src.email, messages: subjects.map((subject) => ({ raw: rawMessage({ to: src.email, subject }) })) });
    const box = (await w.user(src.email)).messages;
    return subjects.map((s) => box.find((m) => m.subject === s)!.id);
  };
  const newRun = async () => {
    const id = `run_cand_${++n}`;
    await w.t.store.db.query("INSERT INTO flow_runs (id, account_id, flow_id, status) VALUES ($1, $2, $3, 'succeeded')", [id, await w.accountId(), flowId]);
    return id;
  };
  const stored = async (runId: string) => Number((await w.t.store.db.query("SELECT count(*) AS n FROM run_candidates WHERE run_id = $1", [runId]))[0]!.n);
  /** Every page of the plan, and how many candidates the store held while the pages were read. */
  const read = async (runId: string, spec: Partial<ExportSpec>, opts: { inMemory?: boolean; retried?: boolean }) => {
    const plan = await planExport(call, runId, flowId, withExportDefaults({ incremental: true, ...spec }), { candidates, checkpoints, log: w.t.app.log }, undefined, opts);
    const pages: string[][] = [];
    for await (const page of plan.pages) if (page.ids.length) pages.push(page.ids);
    return { plan, pages, stored: await stored(runId) };
  };

  it("holds a handful in memory, filtered by the query and capped, with nothing in the store", async () => {
    const ids = await arrive(["mem invoice 1", "mem lunch", "mem invoice 2", "mem invoice 3"]);
    const runId = await newRun();
    const all = await read(runId, {}, { inMemory: true });
    expect(all).toMatchObject({ pages: [ids], stored: 0, plan: { resumable: false, filterLabels: true } });
    expect(all.plan.nextHistoryId).toBe((await w.user(src.email)).historyId);
    expect(await read(runId, { query: "subject:invoice" }, { inMemory: true })).toMatchObject({ pages: [[ids[0], ids[2], ids[3]]], stored: 0 });
    expect(await read(runId, { query: "subject:invoice", maxMessages: 2 }, { inMemory: true })).toMatchObject({ pages: [[ids[0], ids[2]]], stored: 0 });
    // A backup's (inMemory off) go to the store, where a run taken over resumes from.
    const backup = await read(runId, { query: "subject:invoice" }, {});
    expect(backup).toMatchObject({ pages: [[ids[0], ids[2], ids[3]]], stored: 4, plan: { resumable: true } });
    // A retried attempt forgets what an earlier one stored.
    expect(await read(runId, {}, { inMemory: true, retried: true })).toMatchObject({ pages: [ids], stored: 0 });
  });

  it("stores a collection larger than a page, and reads it back a page at a time in history order", async () => {
    const subjects = Array.from({ length: 520 }, (_, i) => `big ${i} ${i % 2 ? "odd" : "even"}`);
    const ids = await arrive(subjects);
    const runId = await newRun();
    const all = await read(runId, {}, { inMemory: true });
    expect(all.stored).toBe(520);
    expect(all.pages.map((p) => p.length)).toEqual([500, 20]);
    expect(all.pages.flat()).toEqual(ids);
    const odd = await read(runId, { query: "subject:odd" }, { inMemory: true, retried: true });
    expect(odd.pages.flat()).toEqual(ids.filter((_, i) => i % 2));
  });
});
