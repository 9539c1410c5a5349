/**
 * Triggers in queue mode: two service processes sharing PostgreSQL and Redis.
 * BullMQ job schedulers fire each schedule tick in exactly one of them; with
 * every process stopped, the ticks missed fire once when one returns; a Gmail
 * poll delivers each arriving message once. The clock is BullMQ's (real), so
 * the shortest interval is lowered to one second for these tests.
 */
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, startTestApp, type TestApp } from "../support/app.ts";
import { postgresBackend } from "../support/db.ts";
import { testDatabaseUrl, testRedisUrl, uniqueName } from "../support/services.ts";
import { flowWorld, PUBLIC_URL, rawMessage, type FlowWorld } from "../flows/support.ts";
import { runsOf, settled, until, type RunView } from "./support.ts";
import { TRIGGER_QUEUE_NAME } from "../../server/triggers/bull-ticker.ts";

const triggers = { minIntervalMs: 1000 };

describe.skipIf(!testDatabaseUrl || !testRedisUrl)("triggers in queue mode (PostgreSQL, Redis/BullMQ, two processes)", () => {
  const prefix = uniqueName("mbtrig");
  const redisClients: Redis[] = [];
  const queueEnv = () => ({ REDIS_URL: testRedisUrl!, REDIS_PREFIX: prefix });
  let w: FlowWorld;
  let b: TestApp;

  const another = async (): Promise<TestApp> => {
    const redis = new Redis(testRedisUrl!);
    redisClients.push(redis);
    return startTestApp({ store: w.t.store, secrets: w.t.secrets, env: { PUBLIC_URL, ...w.google.env, ...queueEnv() }, deps: { redis, triggers } });
  };

  beforeAll(async () => {
    const redis = new Redis(testRedisUrl!);
    redisClients.push(redis);
    w = await flowWorld({ backend: postgresBackend!, env: queueEnv(), deps: { redis, triggers } });
    b = await another();
  });
  afterAll(async () => {
    await b?.close();
    await w?.close();
    const admin = new Redis(testRedisUrl!);
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length) await admin.del(...keys);
    await admin.quit();
    for (const r of redisClients) await r.quit();
  });

  /**
   * Runs closer than half a tick apart: each must be the follow-up of a run still going when its
   * tick came (created as that run finished), never a second run for one tick.
   */
  const doubled = (runs: RunView[]) =>
    runs.slice(1).filter((r, i) => {
      const prev = runs[i]!;
      const gap = Date.parse(r.createdAt) - Date.parse(prev.createdAt);
      return gap <= 500 && !(prev.finishedAt && Date.parse(r.createdAt) >= Date.parse(prev.finishedAt) - 50);
    });

  it("fires each tick of a schedule once across two processes", async () => {
    const src = await w.mailbox({ generate: 2 });
    const res = await w.a.post("/v1/flows", {
      name: "every second",
      source: { connectionId: src.connectionId, export: { format: "minimal" } },
      destinations: [{ connectionId: src.connectionId, import: { action: "addLabels", labelIds: ["IMPORTANT"] } }],
      trigger: { type: "schedule", every: "1s" },
    });
    expect(res.statusCode, res.body).toBe(201);
    const id = res.json().id;
    const started = Date.now();
    await until(async () => (await runsOf(w, id)).length >= 6, "six scheduled runs");
    const off = await api(b.app, w.t.adminToken).patch(`/v1/flows/${id}`, { enabled: false });
    expect(off.json()).toMatchObject({ enabled: false, nextRunAt: null });
    const elapsed = Date.now() - started;
    const runs = await until(async () => ((r) => settled(r) && r)(await runsOf(w, id)), "the runs to end");
    expect(runs.every((r) => r.trigger === "schedule" && r.status === "succeeded")).toBe(true);
    // One run per tick: no more runs than ticks, and never two for one tick (a second fire would fold into a follow-up right after the run).
    expect(runs.length).toBeLessThanOrEqual(Math.ceil(elapsed / 1000) + 1);
    // (The first gap may be short: an interval fires when enabled, then on its aligned ticks.)
    expect(doubled(runs.slice(1))).toEqual([]);
    const [row] = await w.t.store.db.query("SELECT pending_trigger FROM flow_triggers WHERE flow_id = $1", [id]);
    expect(row!.pending_trigger).toBeNull();
    // BullMQ handed each tick to one process: neither saw a tick the other had fired.
    const lines = [...w.t.logs, ...b.logs].filter((l) => l.includes(id));
    expect(lines.filter((l) => l.includes("tick already fired"))).toEqual([]);
    const fired = lines.filter((l) => /trigger (started a run|folded into a follow-up run)/.test(l));
    expect(fired.length).toBeGreaterThanOrEqual(runs.length);
    expect(fired.length).toBeLessThanOrEqual(Math.ceil(elapsed / 1000) + 1);
  });

  it("fires the ticks missed while every process was down once when one comes back", async () => {
    const src = await w.mailbox({ generate: 1 });
    const flow = await api(b.app, w.t.adminToken).post("/v1/flows", {
      name: "missed ticks",
      source: { connectionId: src.connectionId, export: { format: "minimal" } },
      destinations: [{ connectionId: src.connectionId, import: { action: "addLabels", labelIds: ["IMPORTANT"] } }],
      trigger: { type: "schedule", every: "1s" },
    });
    const id = flow.json().id;
    await until(async () => ((r) => r.length >= 2 && settled(r))(await runsOf(w, id)), "two scheduled runs");
    // Every process stops (w's ticker and run workers too): the flow's ticks come due with no one to take them.
    await b.close();
    await w.t.app.triggers.close();
    const before = (await runsOf(w, id)).length;
    await new Promise((r) => setTimeout(r, 3500)); // three ticks pass with no worker (BullMQ's clock is the wall clock)
    expect((await runsOf(w, id)).length).toBe(before);
    b = await another();
    const ready = Date.now();
    await until(async () => (await runsOf(w, id)).length > before, "the missed ticks' run");
    await new Promise((r) => setTimeout(r, 1200)); // room for a pile of replayed ticks to show
    await api(b.app, w.t.adminToken).patch(`/v1/flows/${id}`, { enabled: false });
    const ticksSince = Math.floor((Date.now() - ready) / 1000) + 1;
    const after = (await until(async () => ((r) => settled(r) && r)(await runsOf(w, id)), "the runs to end")).slice(before);
    // Three missed ticks made one run; then one run per tick (the first gap is from the late tick to the next aligned one).
    expect(after.length).toBeGreaterThanOrEqual(1);
    expect(after.length).toBeLessThanOrEqual(1 + ticksSince);
    expect(doubled(after.slice(1))).toEqual([]);
  });

  it("drops the job scheduler of a flow deleted under it (its account deleted, say) at its next tick", async () => {
    const src = await w.mailbox({ generate: 1 });
    const res = await api(b.app, w.t.adminToken).post("/v1/flows", {
      name: "deleted underneath",
      source: { connectionId: src.connectionId, export: { format: "minimal" } },
      destinations: [{ connectionId: src.connectionId, import: { action: "addLabels", labelIds: ["IMPORTANT"] } }],
      trigger: { type: "schedule", every: "1s" },
    });
    const id = res.json().id;
    const queue = new Queue(TRIGGER_QUEUE_NAME, { connection: { url: testRedisUrl! }, prefix });
    try {
      expect(await queue.getJobScheduler(`flow:${id}`)).toBeDefined();
      await until(async () => settled(await runsOf(w, id)) && (await runsOf(w, id)).length >= 1, "a first run");
      await w.t.store.db.query("DELETE FROM flows WHERE id = $1", [id]);
      await until(async () => !(await queue.getJobScheduler(`flow:${id}`)), "the scheduler to go");
    } finally {
      await queue.close();
    }
  });

  it("polls a mailbox from one process and delivers each arriving message once", async () => {
    const src = await w.mailbox({ generate: 3 });
    const dst = await w.mailbox();
    const res = await api(b.app, w.t.adminToken).post("/v1/flows", {
      name: "new mail",
      source: { connectionId: src.connectionId, export: { format: "metadata" } },
      destinations: [{ connectionId: dst.connectionId, import: { action: "insert" } }],
      trigger: { type: "gmail", labelIds: ["INBOX"], pollEvery: "1s" },
    });
    expect(res.statusCode, res.body).toBe(201);
    const id = res.json().id;
    const subjects = Array.from({ length: 5 }, (_, i) => `arrived ${i}`);
    await w.google.admin("POST", "/users", { email: src.email, messages: subjects.map((subject) => ({ raw: rawMessage({ to: src.email, subject }), labelIds: ["INBOX"] })) });
    await until(async () => (await w.user(dst.email)).messages.length >= 5, "five deliveries");
    await new Promise((r) => setTimeout(r, 2500)); // more polls from both processes
    const runs = await until(async () => ((r) => settled(r) && r)(await runsOf(w, id)), "the runs to end");
    expect(runs.every((r) => r.trigger === "poll")).toBe(true);
    expect(runs.reduce((n, r) => n + r.progress.exported, 0)).toBe(5);
    expect((await w.user(dst.email)).messages.map((m) => m.subject).sort()).toEqual(subjects);
    await api(b.app, w.t.adminToken).patch(`/v1/flows/${id}`, { enabled: false });
  });

  it("polls a mailbox two flows read once per tick, from one process, and each flow gets every message once", async () => {
    const src = await w.mailbox({ generate: 1 });
    const dstA = await w.mailbox();
    const dstB = await w.mailbox();
    const make = async (dst: { connectionId: string }, pollEvery: string) => {
      const res = await api(b.app, w.t.adminToken).post("/v1/flows", {
        name: `shared ${pollEvery}`,
        source: { connectionId: src.connectionId, export: { format: "metadata" } },
        destinations: [{ connectionId: dst.connectionId, import: { action: "insert" } }],
        trigger: { type: "gmail", labelIds: ["INBOX"], pollEvery },
      });
      expect(res.statusCode, res.body).toBe(201);
      return res.json().id as string;
    };
    const one = await make(dstA, "2s");
    const two = await make(dstB, "1s");
    const lastTick = async () => {
      const [row] = await w.t.store.db.query<{ every_ms: string; last_tick_at: Date | string | null }>("SELECT every_ms, last_tick_at FROM gmail_pollers WHERE email = $1", [src.email]);
      return row?.last_tick_at ? new Date(row.last_tick_at).getTime() : 0;
    };
    const t0 = await until(lastTick, "the mailbox poller's first tick");
    await w.google.admin("POST", "/stats/reset", {});
    const t1 = await until(async () => ((t) => t >= t0 + 4000 && t)(await lastTick()), "four more ticks", 30_000);
    const ticks = Math.round((t1 - t0) / 1000);
    const calls = (await w.google.admin("GET", "/stats")).users[src.email]?.requests ?? 0;
    // One history.list per tick of the one poller (1s, the smaller interval), whichever process got it: not one per flow or per process.
    // (A tick BullMQ skipped on a busy machine makes fewer, never more.)
    expect(calls).toBeGreaterThanOrEqual(1);
    expect(calls).toBeLessThanOrEqual(ticks + 1);

    const subjects = Array.from({ length: 4 }, (_, i) => `shared ${i}`);
    await w.google.admin("POST", "/users", { email: src.email, messages: subjects.map((subject) => ({ raw: rawMessage({ to: src.email, subject }), labelIds: ["INBOX"] })) });
    for (const dst of [dstA, dstB]) await until(async () => (await w.user(dst.email)).messages.length >= 4, "four deliveries");
    for (const id of [one, two]) {
      const runs = await until(async () => ((r) => settled(r) && r)(await runsOf(w, id)), "the runs to end");
      expect(runs.reduce((n, r) => n + r.progress.exported, 0)).toBe(4);
      await api(b.app, w.t.adminToken).patch(`/v1/flows/${id}`, { enabled: false });
    }
    for (const dst of [dstA, dstB]) expect((await w.user(dst.email)).messages.map((m) => m.subject).sort()).toEqual(subjects);
  });
});
