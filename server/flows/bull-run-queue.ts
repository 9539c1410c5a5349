/**
 * The BullMQ run queue (queue mode): one Queue and one Worker per process on
 * `${prefix}`. A job is a run id (the job id too, so a run is queued once).
 * A worker that dies stops renewing its job's lock and BullMQ's stalled-job
 * check hands the job to another worker; a run whose attempt threw (a
 * transient failure) is retried with the {@link RunRetryPolicy}. The run's
 * lease in the database (see `RunStore.claim`) keeps a second worker off a run
 * that is still executing; deliveries make the retry safe.
 */
import { Queue, Worker, type Job } from "bullmq";
import type { FastifyBaseLogger } from "fastify";
import { DEFAULT_RUN_CONCURRENCY, DEFAULT_RUN_RETRY, runRetryDelayMs, type RunProcessor, type RunQueue, type RunRetryPolicy } from "./run-queue.ts";

export const RUN_QUEUE_NAME = "flow-runs";
/**
 * A dead process's run is taken over within lock + stalled interval (about 15 s; BullMQ's own
 * defaults, 30 s each, made it about 40-60 s). The run's lease in the database lasts no longer
 * than the lock, so the worker that gets the stalled job can claim the run at once.
 */
export const DEFAULT_LOCK_DURATION_MS = 10_000;
export const DEFAULT_STALLED_INTERVAL_MS = 5_000;

export interface BullRunQueueOptions {
  redisUrl: string;
  /** Prefix of BullMQ's keys. */
  prefix: string;
  concurrency?: number;
  retry?: RunRetryPolicy;
  /**
   * Lock of a running job, renewed by its worker every half of it; a job whose lock lapses (dead
   * or frozen process) is stalled and handed to another worker. @defaultValue {@link DEFAULT_LOCK_DURATION_MS}
   */
  lockDurationMs?: number;
  /** How often workers look for stalled jobs. @defaultValue {@link DEFAULT_STALLED_INTERVAL_MS} */
  stalledIntervalMs?: number;
  log?: FastifyBaseLogger;
  /** Called when a run's last attempt threw. */
  onFinalFailure?: (runId: string, err: unknown) => Promise<void>;
}

export class BullRunQueue implements RunQueue {
  private readonly queue: Queue;
  private readonly worker: Worker;
  private readonly shutdown = new AbortController();

  constructor(process: RunProcessor, private readonly opts: BullRunQueueOptions) {
    const retry = opts.retry ?? DEFAULT_RUN_RETRY;
    this.queue = new Queue(RUN_QUEUE_NAME, {
      connection: { url: opts.redisUrl },
      prefix: opts.prefix,
      defaultJobOptions: { attempts: retry.attempts, backoff: { type: "run" }, removeOnComplete: 1000, removeOnFail: 1000 },
    });
    this.worker = new Worker(
      RUN_QUEUE_NAME,
      async (job: Job<{ runId: string }>) => {
        try {
          await process(job.data.runId, this.shutdown.signal);
          // Stopped by our shutdown, not finished: fail this attempt so another process takes the run up.
          if (this.shutdown.signal.aborted) throw new Error("the process shut down during the run; it will be retried");
        } catch (err) {
          if (job.attemptsMade + 1 >= retry.attempts) await opts.onFinalFailure?.(job.data.runId, err);
          else opts.log?.warn({ err, runId: job.data.runId, attempt: job.attemptsMade + 1 }, "run attempt failed: it will be retried");
          throw err;
        }
      },
      {
        connection: { url: opts.redisUrl, maxRetriesPerRequest: null },
        prefix: opts.prefix,
        concurrency: opts.concurrency ?? DEFAULT_RUN_CONCURRENCY,
        lockDuration: opts.lockDurationMs ?? DEFAULT_LOCK_DURATION_MS,
        stalledInterval: opts.stalledIntervalMs ?? DEFAULT_STALLED_INTERVAL_MS,
        maxStalledCount: 2,
        settings: { backoffStrategy: (attemptsMade: number) => runRetryDelayMs(attemptsMade, retry) },
      },
    );
    this.worker.on("error", (err) => opts.log?.warn({ err }, "run queue worker error"));
    this.queue.on("error", (err) => opts.log?.warn({ err }, "run queue error"));
  }

  /**
   * Add the run's job unless one is waiting, delayed or active. A job left completed or failed
   * while its run is still unfinished in the database (a runner that lost its lease, a run
   * reconciled after Redis lost its data) is replaced.
   */
  async enqueue(runId: string): Promise<void> {
    const job = await this.queue.getJob(runId);
    if (job) {
      const state = await job.getState();
      if (state !== "completed" && state !== "failed" && state !== "unknown") return;
      await job.remove().catch(() => {}); // removed meanwhile: the add below still holds
    }
    await this.queue.add("run", { runId }, { jobId: runId });
  }

  async close(): Promise<void> {
    this.shutdown.abort();
    await this.worker.close();
    await this.queue.close();
  }
}
