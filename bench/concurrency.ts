/**
 * Concurrency gate benchmark (issue 6).
 *
 *   npx tsx bench/concurrency.ts        # REDIS_URL or TEST_REDIS_URL, else redis://127.0.0.1:6379
 *
 * Workload: 10,000 requests over 200 pools with levels 1..25 (pool i has level i % 25 + 1),
 * all submitted at once; each request holds its slot over one no-op turn of the event loop.
 * Measured for RedisGate and MemoryGate: throughput, time to wait for a slot, the most in
 * flight per pool against its limit; and, separately, the time to acquire a FREE slot (one
 * request at a time, so it is the gate's own cost and not the flood's backlog). The baseline is
 * the same 10,000 no-op jobs through one plain BullMQ queue with a global concurrency (BullMQ
 * cannot limit 200 groups separately without BullMQ Pro).
 */
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import type { PoolGate } from "../server/pools/gate.ts";
import { MemoryGate } from "../server/pools/memory-gate.ts";
import { RedisGate } from "../server/pools/redis-gate.ts";

const REQUESTS = 10_000;
const POOLS = 200;
const FREE_SAMPLES = 2_000;
const levelOf = (pool: number) => (pool % 25) + 1;
const noop = () => new Promise<void>((resolve) => setImmediate(resolve));
const redisUrl = process.env.REDIS_URL ?? process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
const ms = (n: number) => `${n.toFixed(3)} ms`;

interface FloodResult {
  seconds: number;
  perSecond: number;
  waitP50: number;
  waitP99: number;
  over: number;
  atLimit: number;
  worstRatio: number;
}

/** All requests at once; per-pool in-flight counted by the requests themselves. */
async function flood(gate: PoolGate, tag: string): Promise<FloodResult> {
  const inFlight = new Array<number>(POOLS).fill(0);
  const most = new Array<number>(POOLS).fill(0);
  const waits: number[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: REQUESTS }, async (_, i) => {
      const pool = i % POOLS;
      const asked = performance.now();
      const slot = await gate.acquire(`${tag}-${pool}`, levelOf(pool));
      waits.push(performance.now() - asked);
      most[pool] = Math.max(most[pool], ++inFlight[pool]);
      await noop();
      inFlight[pool]--;
      await slot.release();
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  waits.sort((a, b) => a - b);
  const over = most.filter((m, pool) => m > levelOf(pool)).length;
  const atLimit = most.filter((m, pool) => m === levelOf(pool)).length;
  const worstRatio = Math.max(...most.map((m, pool) => m / levelOf(pool)));
  return {
    seconds,
    perSecond: REQUESTS / seconds,
    waitP50: quantile(waits, 0.5),
    waitP99: quantile(waits, 0.99),
    over,
    atLimit,
    worstRatio,
  };
}

/** One request at a time, each pool idle: the time to acquire a free slot. */
async function freeSlot(gate: PoolGate, tag: string): Promise<{ p50: number; p99: number }> {
  const times: number[] = [];
  for (let i = 0; i < FREE_SAMPLES + 200; i++) {
    const pool = i % POOLS;
    const asked = performance.now();
    const slot = await gate.acquire(`${tag}-free-${pool}`, levelOf(pool));
    if (i >= 200) times.push(performance.now() - asked); // the first 200 warm up (script load, JIT)
    await slot.release();
  }
  times.sort((a, b) => a - b);
  return { p50: quantile(times, 0.5), p99: quantile(times, 0.99) };
}

async function bullmqBaseline(prefix: string, concurrency: number): Promise<number> {
  const connection = { url: redisUrl, maxRetriesPerRequest: null };
  const name = "bench";
  const queue = new Queue(name, { connection: { url: redisUrl }, prefix });
  await queue.waitUntilReady();
  await queue.setGlobalConcurrency(concurrency);
  let done = 0;
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));
  const worker = new Worker(
    name,
    async () => {
      await noop();
      if (++done === REQUESTS) finish();
    },
    { connection, prefix, concurrency, autorun: false },
  );
  await worker.waitUntilReady();
  const started = performance.now();
  void worker.run();
  for (let i = 0; i < REQUESTS; i += 1_000) {
    await queue.addBulk(
      Array.from({ length: Math.min(1_000, REQUESTS - i) }, (_, k) => ({
        name: "noop",
        data: { pool: (i + k) % POOLS },
        opts: { removeOnComplete: true },
      })),
    );
  }
  await finished;
  const seconds = (performance.now() - started) / 1000;
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return REQUESTS / seconds;
}

async function deleteKeys(prefix: string): Promise<void> {
  const redis = new Redis(redisUrl);
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== "0");
  await redis.quit();
}

function report(name: string, r: FloodResult, free: { p50: number; p99: number }): void {
  console.log(`\n${name}`);
  console.log(`  throughput            ${Math.round(r.perSecond).toLocaleString("en")} requests/s (${r.seconds.toFixed(2)} s)`);
  console.log(`  acquire a free slot   p50 ${ms(free.p50)}   p99 ${ms(free.p99)}   (one at a time, ${FREE_SAMPLES} samples)`);
  console.log(`  wait under the flood  p50 ${ms(r.waitP50)}   p99 ${ms(r.waitP99)}`);
  console.log(
    `  most in flight        over the limit: ${r.over}/${POOLS} pools; reached it exactly: ${r.atLimit}/${POOLS}; max in-flight/limit ${r.worstRatio.toFixed(2)}`,
  );
}

async function main(): Promise<void> {
  const prefix = `bench_${randomBytes(4).toString("hex")}`;
  const sumOfLimits = Array.from({ length: POOLS }, (_, p) => levelOf(p)).reduce((a, b) => a + b, 0);
  console.log(`${REQUESTS} requests, ${POOLS} pools, levels 1..25 (sum ${sumOfLimits}), Redis ${redisUrl}`);
  try {
    const memory = new MemoryGate();
    const memFree = await freeSlot(memory, "m");
    const mem = await flood(memory, "m");
    await memory.close();

    const gate = new RedisGate({ redis: redisUrl, prefix: `${prefix}:gate` });
    await flood(gate, "warm"); // load the scripts and warm the JIT before timing
    const redisFree = await freeSlot(gate, "r");
    const red = await flood(gate, "r");
    await gate.close();

    // The baseline gets its best shot: the same total in flight as the gate, and a smaller one.
    const bullRuns: [number, number][] = [];
    for (const concurrency of [sumOfLimits, 100]) {
      bullRuns.push([concurrency, await bullmqBaseline(`${prefix}:bull${concurrency}`, concurrency)]);
    }
    const [bullConcurrency, bullPerSecond] = bullRuns.reduce((a, b) => (b[1] > a[1] ? b : a));

    report("MemoryGate (single process)", mem, memFree);
    report("RedisGate (queue mode)", red, redisFree);
    console.log(`\nBullMQ baseline: one queue with a global concurrency, no per-pool limit`);
    for (const [concurrency, perSecond] of bullRuns) {
      console.log(`  concurrency ${String(concurrency).padEnd(9)} ${Math.round(perSecond).toLocaleString("en")} jobs/s`);
    }
    console.log(`  baseline (the faster) ${Math.round(bullPerSecond).toLocaleString("en")} jobs/s at concurrency ${bullConcurrency}`);
    const ratio = red.perSecond / bullPerSecond;
    console.log(`\nRedisGate / BullMQ throughput: ${ratio.toFixed(2)}x (target >= 2x)`);
    const ok = ratio >= 2 && redisFree.p50 <= 1 && red.over === 0 && mem.over === 0;
    console.log(ok ? "targets met" : "TARGETS MISSED");
    process.exitCode = ok ? 0 : 1;
  } finally {
    await deleteKeys(prefix);
  }
}

await main();
