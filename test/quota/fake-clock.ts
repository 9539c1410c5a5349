/** A clock the test moves by hand: `now` and `sleep` as a QuotaBudget sees them. */
import type { QuotaClock } from "../../server/quota/budget.ts";

interface Sleeper {
  at: number;
  resolve(): void;
}

export class FakeClock implements QuotaClock {
  #t: number;
  readonly #sleepers = new Set<Sleeper>();

  /** @param start - the clock's time at first. @defaultValue 2026-12-03 12:00 UTC */
  constructor(start = Date.UTC(2026, 11, 3, 12)) {
    this.#t = start;
  }

  now(): number {
    return this.#t;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const sleeper: Sleeper = {
        at: this.#t + ms,
        resolve: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.#sleepers.delete(sleeper);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#sleepers.add(sleeper);
    });
  }

  /** How many callers are asleep. */
  get sleeping(): number {
    return this.#sleepers.size;
  }

  /** Jump to the earliest wake-up and wake everyone due then; false when nobody sleeps. */
  async next(): Promise<boolean> {
    if (this.#sleepers.size === 0) return false;
    const at = Math.min(...[...this.#sleepers].map((s) => s.at));
    await this.advance(Math.max(0, at - this.#t));
    return true;
  }

  /** Move the clock by `ms`, waking sleepers in order of their wake-up time. */
  async advance(ms: number): Promise<void> {
    const target = this.#t + ms;
    for (;;) {
      const due = [...this.#sleepers].filter((s) => s.at <= target).sort((a, b) => a.at - b.at);
      if (due.length === 0) break;
      const at = due[0].at;
      this.#t = Math.max(this.#t, at);
      for (const s of due.filter((d) => d.at === at)) {
        this.#sleepers.delete(s);
        s.resolve();
      }
      await new Promise((r) => setImmediate(r));
    }
    this.#t = Math.max(this.#t, target);
    await new Promise((r) => setImmediate(r));
  }
}
