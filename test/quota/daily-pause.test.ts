/**
 * The day's units reached mid-run (SPEC §2 "Quota budget"): the run pauses with
 * `daily_quota_reached` (queued again, its record saying when it resumes) instead of being retried
 * with backoff, loses nothing, and resumes by itself at the next UTC midnight, on a fake clock
 * (the quota clock the Gmail runner and the pause share), in single-process mode and in queue mode
 * (BullMQ, PostgreSQL, the budget in Redis). Each record reaches the destination once.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryBudget, nextUtcDay, RedisBudget, type QuotaBudget } from "../../server/quota/index.ts";
import { postgresBackend } from "../support/db.ts";
import { testDatabaseUrl, testRedisUrl, uniqueName } from "../support/services.ts";
import { flowWorld, type FlowWorld } from "../flows/support.ts";
import { FakeClock } from "./fake-clock.ts";

const RECORDS = 30;
/** messages.get (5) + messages.insert (25) a record: the day's 600 units end about two thirds in. */
const DAILY_UNITS = 600;

const modes = [
  { name: "single process", queue: false },
  ...(testDatabaseUrl && testRedisUrl ? [{ name: "queue mode", queue: true }] : []),
];

describe.each(modes)("a run that spends its iClient's daily units ($name)", ({ queue }) => {
  let w: FlowWorld;
  let redis: Redis | undefined;
  let budget: QuotaBudget;
  const prefix = uniqueName("mbpause");
  // Starts now, so the run's hold-off in the database (until the next real midnight) keeps
  // reconciliation away while the test moves only this clock.
  const clock = new FakeClock(Date.now());

  beforeAll(async () => {
    budget = queue ? new RedisBudget({ redis: testRedisUrl!, prefix: `${prefix}:quota`, clock }) : new MemoryBudget({ clock });
    redis = queue ? new Redis(testRedisUrl!) : undefined;
    w = await flowWorld({
      ...(queue ? { backend: postgresBackend! } : {}),
      env: { GMAIL_PROJECT_DAILY_UNITS: String(DAILY_UNITS), ...(queue ? { REDIS_URL: testRedisUrl!, REDIS_PREFIX: prefix } : {}) },
      deps: { budget, quotaClock: clock, ...(redis ? { redis } : {}), flows: { retry: { attempts: 30, baseMs: 20, maxMs: 200 } } },
    });
  }, 60_000);
  afterAll(async () => {
    await w?.close();
    await budget?.close();
    if (redis) {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length) await redis.del(...keys);
      await redis.quit();
    }
  });

  it("pauses with daily_quota_reached, nothing lost, and resumes the next UTC day to finish, each record once", { timeout: 120_000 }, async () => {
    const src = await w.mailbox({ generate: RECORDS });
    const dst = await w.mailbox();
    const flowId = await w.flow({ source: { connectionId: src.connectionId }, destinations: [{ connectionId: dst.connectionId, import: { action: "insert" } }] });
    const start = await w.a.post(`/v1/flows/${flowId}/run`);
    expect(start.statusCode, start.body).toBe(202);
    const runId = start.json().runId;
    const resumeAt = nextUtcDay(clock.now()).toISOString();

    // Paused: queued again, its record says why and when it resumes.
    const get = async () => (await w.a.get(`/v1/runs/${runId}`)).json();
    await expect.poll(async () => (await get()).errors?.[0]?.code, { timeout: 60_000, interval: 50 }).toBe("daily_quota_reached");
    const paused = await get();
    expect(paused.status).toBe("queued");
    expect(paused.errors[0].message).toContain(resumeAt);
    expect(paused.errors[0].resumeAt).toBe(resumeAt);
    expect(paused.progress.failed).toBe(0);
    expect(w.t.logs.join("")).toContain("run paused: the iClient spent its Gmail units of today");
    const usage = (await w.a.get(`/v1/iclients/${w.iClientId}`)).json().usage;
    expect(usage).toMatchObject({ dailyLimit: DAILY_UNITS, warning: true });
    expect(usage.today).toBeLessThanOrEqual(DAILY_UNITS);
    const before = (await w.user(dst.email)).messages;
    expect(before.length).toBeGreaterThan(0);
    expect(before.length).toBeLessThan(RECORDS - 5);
    // Not retried with backoff meanwhile: the run waits for the day (its resume timer sleeps on the clock).
    expect(w.t.logs.join("")).not.toContain("run failed");
    expect(clock.sleeping).toBeGreaterThanOrEqual(1);

    // 00:00 UTC: the run goes on by itself and finishes.
    await clock.advance(Date.parse(resumeAt) - clock.now());
    const done = await w.waitRun(runId);
    expect(done.status, JSON.stringify(done.errors)).toBe("succeeded");
    expect(done.errors).toEqual([]);
    const copied = (await w.user(dst.email)).messages;
    // What a run exports by default: every message but spam and trash.
    const sent = (await w.user(src.email)).messages.filter((m) => !m.labelIds.includes("SPAM") && !m.labelIds.includes("TRASH"));
    expect(sent.length).toBeGreaterThan(RECORDS / 2);
    expect(done.progress).toEqual({ exported: sent.length, imported: sent.length, failed: 0 });
    expect(copied).toHaveLength(sent.length);
    const key = (m: { from: string; subject: string }) => `${m.from}|${m.subject}`;
    expect(copied.map(key).sort()).toEqual(sent.map(key).sort());
  });
});
