/** RedisGate across processes: shared limits, FIFO, pauses, fixed connections, crash recovery. */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { testRedisUrl } from "../support/services.ts";
import { RedisNamespace, settleRedis } from "./redis-harness.ts";

const FIXTURE = fileURLToPath(new URL("./fixtures/hold-slots.ts", import.meta.url));

describe.skipIf(!testRedisUrl)("RedisGate across processes", () => {
  let ns: RedisNamespace;
  afterEach(async () => {
    await ns.quit();
  });
  const setup = () => (ns = new RedisNamespace(testRedisUrl!));

  it("two gates (two processes' connection sets) share one limit", async () => {
    setup();
    const gates = [ns.gate(), ns.gate()];
    let inFlight = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 60 }, async (_, i) => {
        const slot = await gates[i % 2].acquire("shared", 4);
        inFlight++;
        most = Math.max(most, inFlight);
        await new Promise((r) => setTimeout(r, 2));
        inFlight--;
        await slot.release();
      }),
    );
    expect(most).toBe(4);
  });

  it("is first come first served across processes", async () => {
    setup();
    const [a, b] = [ns.gate(), ns.gate()];
    let held = await a.acquire("p", 1);
    const order: string[] = [];
    const mark = (name: string) => (slot: Awaited<ReturnType<typeof a.acquire>>) => (order.push(name), slot);
    const b1 = b.acquire("p", 1).then(mark("b1"));
    await settleRedis(ns.admin); // b1 is queued before a1
    const a1 = a.acquire("p", 1).then(mark("a1"));
    await settleRedis(ns.admin);
    const b2 = b.acquire("p", 1).then(mark("b2"));
    await settleRedis(ns.admin);
    for (const next of [b1, a1, b2]) {
      await held.release();
      held = await next;
    }
    await held.release();
    expect(order).toEqual(["b1", "a1", "b2"]);
  });

  it("a pause set by one process holds for the others", async () => {
    setup();
    const [a, b] = [ns.gate(), ns.gate()];
    await a.pause("p", 300);
    const started = Date.now();
    const slot = await b.acquire("p", 5);
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    await slot.release();
  });

  it("uses two connections per process however many pools", async () => {
    setup();
    const gate = ns.gate();
    const slots = await Promise.all(Array.from({ length: 300 }, (_, i) => gate.acquire(`pool-${i}`, 1 + (i % 25))));
    await Promise.all(slots.map((s) => s.release()));
    const clients = (await ns.admin.client("LIST")) as string;
    const ours = clients.split("\n").filter((line) => line.includes(` name=${ns.prefix}:gate `));
    expect(ours).toHaveLength(2);
  });

  it("recovers a grant whose notification was lost, through the safety tick", async () => {
    setup();
    const gate = ns.gate({ leaseMs: 600 }); // ticks every 200 ms
    const held = await gate.acquire("p", 1);
    const waiter = gate.acquire("p", 1);
    await settleRedis(ns.admin);
    // Grant behind the gate's back, without publishing: what a dropped pub/sub message leaves.
    const base = `${ns.prefix}:{p}:`;
    const [queued] = await ns.admin.zrange(`${base}q`, "0", "0");
    const [holder] = await ns.admin.zrange(`${base}h`, "0", "0");
    await ns.admin
      .multi()
      .zrem(`${base}h`, holder)
      .zrem(`${base}q`, queued)
      .zrem(`${base}ql`, queued)
      .zadd(`${base}h`, Date.now() + 60_000, queued)
      .exec();
    const slot = await waiter;
    await slot.release();
    await held.release(); // its slot was taken away: releasing it again is harmless
    expect(await ns.admin.zcard(`${base}h`)).toBe(0);
  });

  it(
    "gives back the slots of a SIGKILLed process within 30 s",
    async () => {
      setup();
      const leaseMs = 2_000;
      const child = spawn(process.execPath, ["--import", "tsx", FIXTURE, testRedisUrl!, ns.prefix, "p", "3", String(leaseMs)], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      try {
        let out = "";
        for await (const chunk of child.stdout!) {
          out += String(chunk);
          if (out.includes("held")) break;
        }
        expect(out).toContain("held");

        const gate = ns.gate({ leaseMs });
        const waits = [0, 1, 2].map(() => gate.acquire("p", 3));
        let granted = 0;
        waits.forEach((w) => void w.then(() => granted++));
        await settleRedis(ns.admin);
        expect(granted).toBe(0); // the child holds every slot and is ahead in the queue

        const killedAt = Date.now();
        child.kill("SIGKILL");
        await once(child, "exit");
        const slots = await Promise.all(waits);
        const elapsed = Date.now() - killedAt;
        expect(elapsed).toBeLessThan(30_000);
        // The dead child's queued waiter was dropped too: the three slots are ours.
        expect(await ns.admin.zcard(`${ns.prefix}:{p}:h`)).toBe(3);
        await Promise.all(slots.map((s) => s.release()));
      } finally {
        if (child.exitCode === null) child.kill("SIGKILL");
      }
    },
    45_000,
  );
});
