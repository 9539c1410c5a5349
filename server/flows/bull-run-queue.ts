/**
 * The BullMQ run queue (queue mode): one Queue and one Worker per process on
 * `${prefix}`. A job is a run id (the job id too, so a run is queued once).
 * A worker that dies stops renewing its job's lock and BullMQ's stalled-job
 * check hands the job to another worker; attempts with backoff retry a run
 * whose execution threw (a database outage, say). Deliveries make the retry safe.
 */
import { Queue, Worker, type Job } from "bullmq";
import type { FastifyBaseLogger } from "fastify";
import { DEFAULT_RUN_CONCURRENCY, type RunProcessor, type RunQueue } from "./run-queue.ts";

export const RUN_QUEUE_NAME = "flow-runs";

export interface BullRunQueueOptions {
  redisUrl: string;
  /** Prefix of BullMQ's keys. */
  prefix: string;
  concurrency?: number;
  /** Attempts per run before it is failed. @defaultValue 3 */
  attempts?: number;
  /** Lock of a running job; a job whose lock lapses (dead process) is stalled and retried. @defaultValue 30 s */
  lockDurationMs?: number;
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
    const attempts = opts.attempts ?? 3;
    this.queue = new Queue(RUN_QUEUE_NAME, {
      connection: { url: opts.redisUrl },
      prefix: opts.prefix,
      defaultJobOptions: { attempts, backoff: { type: "exponential", delay: 1000 }, removeOnComplete: 1000, removeOnFail: 1000 },
    });
    this.worker = new Worker(
      RUN_QUEUE_NAME,
      async (job: Job<{ runId: string }>) => {
        try {
          await process(job.data.runId, this.shutdown.signal);
          // Stopped by our shutdown, not finished: fail this attempt so another process takes the run up.
          if (this.shutdown.signal.aborted) throw new Error("the process shut down during the run; it will be retried");
        } catch (err) {
          if (job.attemptsMade + 1 >= attempts) await opts.onFinalFailure?.(job.data.runId, err);
          throw err;
        }
      },
      {
        connection: { url: opts.redisUrl, maxRetriesPerRequest: null },
        prefix: opts.prefix,
        concurrency: opts.concurrency ?? DEFAULT_RUN_CONCURRENCY,
        lockDuration: opts.lockDurationMs ?? 30_000,
        stalledInterval: opts.stalledIntervalMs ?? 30_000,
        maxStalledCount: 2,
      },
    );
    this.worker.on("error", (err) => opts.log?.warn({ err }, "run queue worker error"));
    this.queue.on("error", (err) => opts.log?.warn({ err }, "run queue error"));
  }

  async enqueue(runId: string): Promise<void> {
    await this.queue.add("run", { runId }, { jobId: runId });
  }

  async close(): Promise<void> {
    this.shutdown.abort();
    await this.worker.close();
    await this.queue.close();
  }
}
