/**
 * The run queue: the one seam through which runs reach a worker. Two
 * implementations, like the pool gate: {@link MemoryRunQueue} in
 * single-process mode and {@link BullRunQueue} (BullMQ, Redis) in queue mode,
 * where any process of the cluster may execute a run and a run whose process
 * died is taken up again by BullMQ's stalled-job recovery (or, when Redis lost
 * its job, by reconciliation: see `createFlows`).
 *
 * Both retry a run whose attempt threw (a transient failure, see
 * `failure-kind.ts`) with the same {@link RunRetryPolicy}; the retry starts
 * from the deliveries ledger, so nothing is delivered twice.
 */
import { backoffMs } from "../pools/index.ts";

/**
 * Executes one run. Resolves when the run is over for this queue (finished, canceled, gone);
 * throws to have it retried after a backoff. Aborting `signal` means the process is shutting
 * down (the run is left to be retried).
 */
export type RunProcessor = (runId: string, signal: AbortSignal) => Promise<void>;

export interface RunQueue {
  /**
   * Queue a run (its row is `queued`, or `running` with no live lease). Idempotent: a run
   * already waiting, delayed for a retry or executing is not queued twice.
   */
  enqueue(runId: string): Promise<void>;
  /** Stop taking runs, abort the ones executing here and release every connection. */
  close(): Promise<void>;
}

/** How a run whose attempt failed transiently is retried. */
export interface RunRetryPolicy {
  /** Attempts in all, the first included; then the run fails with its last error. @defaultValue 15 */
  attempts: number;
  /** Backoff before the second attempt, doubling after, upper half jittered. @defaultValue 1 s */
  baseMs: number;
  /** Longest backoff. @defaultValue 2 min (15 attempts span about 20 minutes) */
  maxMs: number;
}

export const DEFAULT_RUN_RETRY: Readonly<RunRetryPolicy> = Object.freeze({ attempts: 15, baseMs: 1_000, maxMs: 120_000 });

/** The wait before attempt `attemptsMade + 1` of a run. */
export function runRetryDelayMs(attemptsMade: number, policy: RunRetryPolicy, random = Math.random): number {
  return backoffMs(Math.max(1, attemptsMade), { baseMs: policy.baseMs, maxMs: policy.maxMs }, random);
}

/** Runs executed at once per process. @defaultValue 4 */
export const DEFAULT_RUN_CONCURRENCY = 4;
