/**
 * The run queue: the one seam through which runs reach a worker. Two
 * implementations, like the pool gate: {@link MemoryRunQueue} in
 * single-process mode and {@link BullRunQueue} (BullMQ, Redis) in queue mode,
 * where any process of the cluster may execute a run and a run whose process
 * died is taken up again by BullMQ's stalled-job recovery.
 */

/** Executes one run; aborting `signal` means the process is shutting down (leave the run to be retried). */
export type RunProcessor = (runId: string, signal: AbortSignal) => Promise<void>;

export interface RunQueue {
  /** Queue a run (its row is already `queued`). */
  enqueue(runId: string): Promise<void>;
  /** Stop taking runs, abort the ones executing here and release every connection. */
  close(): Promise<void>;
}

/** Runs executed at once per process. @defaultValue 4 */
export const DEFAULT_RUN_CONCURRENCY = 4;
