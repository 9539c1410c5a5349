/**
 * core/store/group-commit.ts: calls made while a batch is in flight go together in the next one;
 * an idle call goes alone at once; each caller gets its own result; a failed batch is tried again
 * one call at a time. The statements behind it (deliveries, push hints) are covered by the flow and trigger suites.
 */
import { describe, expect, it } from "vitest";
import { groupCommit } from "../../core/store/group-commit.ts";

describe("groupCommit", () => {
  it("sends calls made during a batch together in the next, and answers each caller with its own result", async () => {
    const batches: number[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const double = groupCommit<number, number>(async (items) => {
      batches.push([...items]);
      if (batches.length === 1) await gate;
      return items.map((i) => i * 2);
    });
    const first = double(1);
    await new Promise((r) => setImmediate(r)); // the first batch is in flight
    const later = [double(2), double(3), double(4)];
    await new Promise((r) => setImmediate(r));
    expect(batches).toEqual([[1]]); // the others wait for it
    release();
    expect(await first).toBe(2);
    expect(await Promise.all(later)).toEqual([4, 6, 8]);
    expect(batches).toEqual([[1], [2, 3, 4]]);
    expect(await double(5)).toBe(10); // idle again: alone
    expect(batches.at(-1)).toEqual([5]);
  });

  it("tries each call of a failed batch again alone, so only the call that fails fails", async () => {
    const batches: string[][] = [];
    const run = groupCommit<string, string>(async (items) => {
      batches.push([...items]);
      if (items.includes("bad")) throw new Error("statement failed");
      return items.map((i) => i.toUpperCase());
    });
    const results = await Promise.allSettled([run("a"), run("bad"), run("b")]);
    expect(results.map((r) => (r.status === "fulfilled" ? r.value : (r.reason as Error).message))).toEqual(["A", "statement failed", "B"]);
    expect(batches).toEqual([["a", "bad", "b"], ["a"], ["bad"], ["b"]]);
    expect(await run("c")).toBe("C");
  });

  it("splits what waits into batches of at most maxBatchSize", async () => {
    const sizes: number[] = [];
    const run = groupCommit<number, number>(async (items) => {
      sizes.push(items.length);
      await new Promise((r) => setTimeout(r, 5));
      return [...items];
    }, 3);
    expect(await Promise.all(Array.from({ length: 8 }, (_, i) => run(i)))).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(sizes).toEqual([3, 3, 2]);
  });
});
