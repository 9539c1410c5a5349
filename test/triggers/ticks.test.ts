/**
 * The tick arithmetic (cron-parser in a time zone, across a DST change; an
 * interval restarting from a late tick) and the in-process ticker on a real
 * store: a slow tick of one flow holds up no other and is not fired again
 * while it runs.
 */
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pgliteBackend, type TestDb } from "../support/db.ts";
import { TriggerStore } from "../../server/triggers/trigger-store.ts";
import { MemoryTicker } from "../../server/triggers/memory-ticker.ts";
import { dueTick, nextTick, timerOf } from "../../server/triggers/trigger.ts";
import { clock, until } from "./support.ts";

const at = (iso: string) => Date.parse(iso);

describe("ticks", () => {
  it("follows a cron in its time zone, across the change to summer time", () => {
    const spec = timerOf({ type: "schedule", cron: "0 8 * * *", timezone: "Europe/Berlin" })!;
    // 08:00 in Berlin is 07:00 UTC in winter and 06:00 UTC in summer (the clocks went forward on 29 March 2026).
    expect(new Date(nextTick(spec, at("2026-03-28T07:30:00Z"))).toISOString()).toBe("2026-03-29T06:00:00.000Z");
    expect(new Date(nextTick(spec, at("2026-03-27T12:00:00Z"))).toISOString()).toBe("2026-03-28T07:00:00.000Z");
  });

  it("fires the latest missed tick once, and an interval restarts from it", () => {
    const cron = timerOf({ type: "schedule", cron: "*/5 * * * *" })!;
    expect(dueTick(cron, at("2026-03-02T08:00:00Z"), at("2026-03-02T08:04:59Z"))).toBeUndefined();
    expect(new Date(dueTick(cron, at("2026-03-02T08:00:00Z"), at("2026-03-02T08:27:00Z"))!).toISOString()).toBe("2026-03-02T08:25:00.000Z");
    const every = timerOf({ type: "schedule", every: "10m" })!;
    expect(dueTick(every, 0, 9 * 60_000)).toBeUndefined();
    expect(dueTick(every, 0, 47 * 60_000)).toBe(47 * 60_000);
    expect(nextTick(every, 47 * 60_000)).toBe(57 * 60_000);
  });
});

describe("the in-process ticker", () => {
  let store: TestDb;
  beforeAll(async () => {
    store = await pgliteBackend.open();
  });
  afterAll(() => store?.close());

  it("does not let a slow tick hold up another flow, nor fire it again while it runs", async () => {
    const c = clock(at("2026-03-02T08:00:00Z"));
    const fired: string[] = [];
    let release!: () => void;
    const slow = new Promise<void>((r) => (release = r));
    const ticker = new MemoryTicker({
      store: new TriggerStore(store.db),
      log: pino({ level: "silent" }),
      now: c.now,
      onTick: async (flowId) => {
        fired.push(flowId);
        if (flowId === "slow") await slow;
      },
    });
    const every = { everyMs: 60_000 };
    await ticker.set("slow", every, c.t);
    await ticker.set("fast", every, c.t);
    c.advance(60_000);
    const first = ticker.check();
    c.advance(60_000);
    const second = ticker.check(); // resolves once slow's tick ends too
    await until(async () => fired.filter((f) => f === "fast").length === 2, "fast's second tick, while slow's first still runs");
    expect(fired.filter((f) => f === "slow")).toHaveLength(1);
    release();
    await Promise.all([first, second]);
    c.advance(60_000);
    await ticker.check();
    expect(fired.filter((f) => f === "slow")).toHaveLength(2);
    await ticker.close();
  });
});
