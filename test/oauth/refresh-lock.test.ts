/** The in-memory refresh lock of single-process mode: one holder per connection at a time. */
import { describe, expect, it } from "vitest";
import { LocalRefreshLock } from "../../server/oauth/refresh-lock.ts";

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

describe("LocalRefreshLock", () => {
  it("runs the callers of one key one after another, in the order they asked", async () => {
    const lock = new LocalRefreshLock();
    const log: string[] = [];
    const first = gate();
    const a = lock.withLock("c1", async () => {
      log.push("a in");
      await first.opened;
      log.push("a out");
      return "a";
    });
    const b = lock.withLock("c1", async () => {
      log.push("b");
      return "b";
    });
    const c = lock.withLock("c1", async () => {
      log.push("c");
      return "c";
    });
    // Another connection is not held up by c1's holder.
    expect(await lock.withLock("c2", async () => "other")).toBe("other");
    expect(log).toEqual(["a in"]);
    first.open();
    expect(await Promise.all([a, b, c])).toEqual(["a", "b", "c"]);
    expect(log).toEqual(["a in", "a out", "b", "c"]);
  });

  it("lets the next caller in when a holder throws", async () => {
    const lock = new LocalRefreshLock();
    const failed = lock.withLock("k", async () => {
      throw new Error("refresh failed");
    });
    const next = lock.withLock("k", async () => "next");
    await expect(failed).rejects.toThrow("refresh failed");
    expect(await next).toBe("next");
  });
});
