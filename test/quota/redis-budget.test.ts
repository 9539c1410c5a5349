import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { RedisBudget } from "../../server/quota/redis-budget.ts";
import { testRedisUrl, uniqueName } from "../support/services.ts";
import { budgetContract } from "./budget-contract.ts";
import { FakeClock } from "./fake-clock.ts";

describe.skipIf(!testRedisUrl)("RedisBudget", () => {
  const admin = new Redis(testRedisUrl!);
  let prefix = uniqueName("quota");
  afterAll(() => admin.quit());

  budgetContract("RedisBudget", {
    make: (clock) => {
      prefix = uniqueName("quota");
      return new RedisBudget({ redis: testRedisUrl!, prefix, clock });
    },
    cleanup: async () => {
      const keys = await admin.keys(`${prefix}:*`);
      if (keys.length) await admin.del(...keys);
    },
  });

  it("two processes on one Redis spend one budget", async () => {
    const clock = new FakeClock();
    const p = uniqueName("quota");
    const [a, b] = [new RedisBudget({ redis: testRedisUrl!, prefix: p, clock }), new RedisBudget({ redis: testRedisUrl!, prefix: p, clock })];
    try {
      const bucket = [{ key: "user:a@x", unitsPerMinute: 600 }];
      // The headroom (100 units) is spent by the first process: the second one waits.
      expect(await a.take("ic", bucket, 100)).toBe(0);
      const waited = b.take("ic", bucket, 100);
      while (clock.sleeping === 0) await new Promise((r) => setImmediate(r));
      await clock.next();
      expect(await waited).toBeGreaterThan(10_000);
    } finally {
      await Promise.all([a.close(), b.close()]);
      const keys = await admin.keys(`${p}:*`);
      if (keys.length) await admin.del(...keys);
    }
  });
});

/** A Redis of the test's own, so it can be restarted (the shared one never is). */
describe.skipIf(!existsSync("/usr/bin/redis-server"))("RedisBudget across a Redis restart", () => {
  let child: ChildProcess | undefined;
  const start = async (port: number) => {
    child = spawn("/usr/bin/redis-server", ["--port", String(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"], { stdio: "ignore" });
    const probe = new Redis({ port, lazyConnect: true, retryStrategy: () => 50 });
    probe.on("error", () => {});
    await probe.connect().catch(() => {});
    await probe.ping();
    probe.disconnect();
  };
  const stop = async () => {
    const c = child!;
    child = undefined;
    await new Promise<void>((resolve) => {
      c.once("exit", () => resolve());
      c.kill("SIGKILL");
    });
  };
  afterAll(async () => {
    if (child) await stop();
  });

  it("keeps working when Redis restarts empty in the middle: the buckets come back full", async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, "127.0.0.1", () => {
        const { port } = s.address() as { port: number };
        s.close(() => resolve(port));
      });
    });
    await start(port);
    const clock = new FakeClock();
    const budget = new RedisBudget({ redis: { port, host: "127.0.0.1", retryStrategy: () => 50 }, clock });
    try {
      const bucket = [{ key: "user:a@x", unitsPerMinute: 600 }];
      expect(await budget.take("ic", bucket, 100)).toBe(0);
      await stop();
      await start(port);
      // Redis forgot the spent headroom: the next call fits at once, and pacing resumes after it.
      expect(await budget.take("ic", bucket, 100)).toBe(0);
      const waited = budget.take("ic", bucket, 100);
      while (clock.sleeping === 0) await new Promise((r) => setImmediate(r));
      await clock.next();
      expect(await waited).toBeGreaterThan(10_000);
    } finally {
      await budget.close();
    }
  });
});
