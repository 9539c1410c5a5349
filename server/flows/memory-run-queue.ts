/**
 * The in-process run queue (single-process mode): FIFO, a few runs at once.
 * Runs left queued or running by a previous process are queued again at start
 * (see `RunStore.unfinished`), which is this mode's retry after a crash.
 */
import { DEFAULT_RUN_CONCURRENCY, type RunProcessor, type RunQueue } from "./run-queue.ts";

export class MemoryRunQueue implements RunQueue {
  private readonly waiting: string[] = [];
  private readonly active = new Set<Promise<void>>();
  private readonly shutdown = new AbortController();

  constructor(
    private readonly process: RunProcessor,
    private readonly concurrency = DEFAULT_RUN_CONCURRENCY,
    private readonly onError: (err: unknown, runId: string) => void = () => {},
  ) {}

  async enqueue(runId: string): Promise<void> {
    if (this.shutdown.signal.aborted) return;
    this.waiting.push(runId);
    this.pump();
  }

  private pump(): void {
    while (this.active.size < this.concurrency && this.waiting.length > 0 && !this.shutdown.signal.aborted) {
      const runId = this.waiting.shift()!;
      const job: Promise<void> = this.process(runId, this.shutdown.signal)
        .catch((err) => this.onError(err, runId))
        .finally(() => {
          this.active.delete(job);
          this.pump();
        });
      this.active.add(job);
    }
  }

  async close(): Promise<void> {
    this.shutdown.abort();
    this.waiting.length = 0;
    await Promise.allSettled([...this.active]);
  }
}
