import { abortReason, assertLimit, GateClosedError, type AcquireOptions, type PoolGate, type Slot } from "./gate.ts";

interface Waiter {
  resolve(slot: Slot): void;
  reject(err: unknown): void;
  cleanup(): void;
}

interface Pool {
  limit: number;
  held: number;
  /** Insertion order is FIFO order; deleting an aborted waiter is O(1). */
  queue: Set<Waiter>;
  pausedUntil: number;
  resumeTimer?: ReturnType<typeof setTimeout>;
}

/**
 * Single-process gate: the same contract as {@link RedisGate}, inside one process.
 * Uses `Date.now` and `setTimeout` only, so fake timers drive it in tests.
 */
export class MemoryGate implements PoolGate {
  readonly #pools = new Map<string, Pool>();
  #closed = false;

  acquire(poolId: string, limit: number, opts: AcquireOptions = {}): Promise<Slot> {
    try {
      assertLimit(limit);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.#closed) return Promise.reject(new GateClosedError());
    const { signal } = opts;
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const pool = this.#pool(poolId);
    pool.limit = limit;
    if (pool.queue.size === 0 && !this.#paused(pool) && pool.held < pool.limit) {
      pool.held++;
      return Promise.resolve(this.#slot(poolId, pool));
    }
    return new Promise<Slot>((resolve, reject) => {
      const onAbort = () => {
        pool.queue.delete(waiter);
        this.#forget(poolId, pool);
        reject(abortReason(signal!));
      };
      const waiter: Waiter = {
        resolve,
        reject,
        cleanup: () => signal?.removeEventListener("abort", onAbort),
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      pool.queue.add(waiter);
      // A raised limit may leave room for waiters queued behind a lower one.
      this.#grant(poolId, pool);
    });
  }

  async pause(poolId: string, ms: number): Promise<void> {
    if (this.#closed) throw new GateClosedError();
    const pool = this.#pool(poolId);
    const until = Date.now() + Math.max(0, ms);
    if (until <= pool.pausedUntil) return;
    pool.pausedUntil = until;
    this.#scheduleResume(poolId, pool);
  }

  #scheduleResume(poolId: string, pool: Pool): void {
    clearTimeout(pool.resumeTimer);
    pool.resumeTimer = setTimeout(() => {
      pool.resumeTimer = undefined;
      // Timers may fire a millisecond early against Date.now(); never grant inside the pause.
      if (this.#paused(pool)) this.#scheduleResume(poolId, pool);
      else this.#grant(poolId, pool);
    }, Math.max(1, pool.pausedUntil - Date.now()));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const pool of this.#pools.values()) {
      clearTimeout(pool.resumeTimer);
      for (const waiter of pool.queue) {
        waiter.cleanup();
        waiter.reject(new GateClosedError());
      }
      pool.queue.clear();
    }
    this.#pools.clear();
  }

  #pool(poolId: string): Pool {
    let pool = this.#pools.get(poolId);
    if (!pool) {
      pool = { limit: 1, held: 0, queue: new Set(), pausedUntil: 0 };
      this.#pools.set(poolId, pool);
    }
    return pool;
  }

  #paused(pool: Pool): boolean {
    return pool.pausedUntil > Date.now();
  }

  #slot(poolId: string, pool: Pool): Slot {
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        pool.held--;
        this.#grant(poolId, pool);
      },
    };
  }

  #grant(poolId: string, pool: Pool): void {
    if (this.#closed || this.#paused(pool)) return;
    for (const waiter of pool.queue) {
      if (pool.held >= pool.limit) break;
      pool.queue.delete(waiter);
      pool.held++;
      waiter.cleanup();
      waiter.resolve(this.#slot(poolId, pool));
    }
    this.#forget(poolId, pool);
  }

  /** Drop idle pools so thousands of connections do not accumulate state. */
  #forget(poolId: string, pool: Pool): void {
    if (pool.held === 0 && pool.queue.size === 0 && pool.resumeTimer === undefined) {
      this.#pools.delete(poolId);
    }
  }
}
