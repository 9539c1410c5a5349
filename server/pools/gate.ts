/**
 * The pool gate: the one seam through which every Gmail request of a
 * connection waits for a slot of its pool (SPEC §2 "Concurrency and borrowing").
 *
 * Two implementations hold the same contract (test/pools/gate-contract.ts):
 * {@link MemoryGate} for single-process mode and {@link RedisGate} for queue mode.
 */

/** A granted slot. Release it exactly once when the request is done; later calls do nothing. */
export interface Slot {
  /** Give the slot back; the next waiter of the pool (FIFO) is granted at once. Idempotent. */
  release(): Promise<void>;
}

/** Options of {@link PoolGate.acquire}. */
export interface AcquireOptions {
  /** Aborting removes the waiter from the queue and rejects with `signal.reason`. */
  signal?: AbortSignal;
}

/** Concurrency gate over named pools. */
export interface PoolGate {
  /**
   * Wait FIFO for a slot in `poolId`; at most `limit` slots held at once across every process
   * sharing the backend. `limit` is read per call and becomes the pool's limit, so a level change
   * applies to the next request (and to the waiters already queued).
   *
   * @param limit - integer from 1; a `RangeError` otherwise.
   */
  acquire(poolId: string, limit: number, opts?: AcquireOptions): Promise<Slot>;
  /**
   * Pause the whole pool (no new slots granted) for `ms` — used when Google answers a rate limit.
   * Slots already held stay held. A shorter pause never cuts a longer one short.
   */
  pause(poolId: string, ms: number): Promise<void>;
  /** Reject every waiter with {@link GateClosedError}, give back held slots and free resources. */
  close(): Promise<void>;
}

/** Raised to waiters (and later callers) of a gate that was closed. */
export class GateClosedError extends Error {
  override name = "GateClosedError";
  constructor(options?: ErrorOptions) {
    super("the pool gate is closed", options);
  }
}

/** Throws a `RangeError` unless `limit` is an integer from 1. */
export function assertLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1) {
    throw new RangeError(`pool limit must be an integer >= 1, got ${limit}`);
  }
}

/** The reason an aborted signal carries, as an Error. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("This operation was aborted", "AbortError");
}
