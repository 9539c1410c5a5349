/**
 * The in-process run queue (single-process mode): FIFO, a few runs at once,
 * and the same retry policy as queue mode (a run whose attempt threw waits its
 * backoff in a timer, then is queued again). Runs left queued or running by a
 * previous process are queued again by reconciliation, at start and every minute.
 */
import { DEFAULT_RUN_CONCURRENCY, DEFAULT_RUN_RETRY, runRetryDelayMs, type RunProcessor, type RunQueue, type RunRetryPolicy } from "./run-queue.ts";

export interface MemoryRunQueueOptions {
  concurrency?: number;
  retry?: RunRetryPolicy;
  /** Called when a run's last attempt threw. */
  onFinalFailure?: (runId: string, err: unknown) => Promise<void>;
  /** Called when an attempt threw and the run will be retried. */
  onRetry?: (runId: string, err: unknown, delayMs: number) => void;
}

export class MemoryRunQueue implements RunQueue {
  private readonly waiting: string[] = [];
  private readonly active = new Map<string, Promise<void>>();
  private readonly delayed = new Map<string, NodeJS.Timeout>();
  /** Attempts made per run still held by this queue. */
  private readonly attempts = new Map<string, number>();
  private readonly shutdown = new AbortController();

  constructor(private readonly process: RunProcessor, private readonly opts: MemoryRunQueueOptions = {}) {}

  async enqueue(runId: string): Promise<void> {
    if (this.shutdown.signal.aborted || this.holds(runId)) return;
    this.waiting.push(runId);
    this.pump();
  }

  /** True while the run waits, waits for a retry, or executes here. */
  holds(runId: string): boolean {
    return this.waiting.includes(runId) || this.active.has(runId) || this.delayed.has(runId);
  }

  private pump(): void {
    const concurrency = this.opts.concurrency ?? DEFAULT_RUN_CONCURRENCY;
    while (this.active.size < concurrency && this.waiting.length > 0 && !this.shutdown.signal.aborted) {
      const runId = this.waiting.shift()!;
      const job: Promise<void> = this.process(runId, this.shutdown.signal)
        .then(
          () => void this.attempts.delete(runId),
          (err) => this.failed(runId, err),
        )
        .finally(() => {
          this.active.delete(runId);
          this.pump();
        });
      this.active.set(runId, job);
    }
  }

  private async failed(runId: string, err: unknown): Promise<void> {
    if (this.shutdown.signal.aborted) return;
    const policy = this.opts.retry ?? DEFAULT_RUN_RETRY;
    const made = (this.attempts.get(runId) ?? 0) + 1;
    if (made >= policy.attempts) {
      this.attempts.delete(runId);
      await this.opts.onFinalFailure?.(runId, err).catch(() => {});
      return;
    }
    this.attempts.set(runId, made);
    const delay = runRetryDelayMs(made, policy);
    this.opts.onRetry?.(runId, err, delay);
    this.delayed.set(
      runId,
      setTimeout(() => {
        this.delayed.delete(runId);
        void this.enqueue(runId);
      }, delay),
    );
  }

  async close(): Promise<void> {
    this.shutdown.abort();
    this.waiting.length = 0;
    for (const timer of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    await Promise.allSettled([...this.active.values()]);
  }
}
