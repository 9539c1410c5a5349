/**
 * The BullMQ ticker (queue mode): one job scheduler per flow
 * (`Queue.upsertJobScheduler`), so BullMQ makes exactly one job per tick and
 * exactly one worker of the cluster takes it; a tick that came due while every
 * process was down waits in Redis and runs once when a worker returns. The
 * tick's time is in the job id (`repeat:<scheduler>:<millis>`), and the
 * handler's SQL guard on the last tick fires a job retried after a crash once.
 */
import { Queue, Worker, type Job } from "bullmq";
import type { FastifyBaseLogger } from "fastify";
import type { TriggerStore } from "./trigger-store.ts";
import type { TimerSpec } from "./trigger.ts";
import type { TickHandler, Ticker } from "./ticker.ts";

export const TRIGGER_QUEUE_NAME = "flow-triggers";

export interface BullTickerOptions {
  redisUrl: string;
  prefix: string;
  store: TriggerStore;
  onTick: TickHandler;
  log: FastifyBaseLogger;
  /** Ticks handled at once per process. @defaultValue 8 */
  concurrency?: number;
}

const schedulerId = (flowId: string) => `flow:${flowId}`;
const repeatOpts = (spec: TimerSpec) => ("everyMs" in spec ? { every: spec.everyMs } : { pattern: spec.cron, tz: spec.timezone });

export class BullTicker implements Ticker {
  private readonly queue: Queue;
  private worker?: Worker;

  constructor(private readonly opts: BullTickerOptions) {
    this.queue = new Queue(TRIGGER_QUEUE_NAME, {
      connection: { url: opts.redisUrl },
      prefix: opts.prefix,
      defaultJobOptions: { attempts: 3, backoff: { type: "exponential", delay: 1000 }, removeOnComplete: 100, removeOnFail: 100 },
    });
    this.queue.on("error", (err) => opts.log.warn({ err }, "trigger queue error"));
  }

  async set(flowId: string, spec: TimerSpec): Promise<number | undefined> {
    const id = schedulerId(flowId);
    const want = repeatOpts(spec);
    const have = await this.queue.getJobScheduler(id);
    // Upserting an unchanged scheduler would restart an interval: keep it.
    const same = have && have.every === (want as { every?: number }).every && have.pattern === (want as { pattern?: string }).pattern && (have.tz ?? undefined) === (want as { tz?: string }).tz;
    if (!same) await this.queue.upsertJobScheduler(id, want, { name: "tick", data: { flowId } });
    return (await this.queue.getJobScheduler(id))?.next;
  }

  async remove(flowId: string): Promise<void> {
    await this.queue.removeJobScheduler(schedulerId(flowId));
  }

  async start(): Promise<void> {
    this.worker = new Worker(
      TRIGGER_QUEUE_NAME,
      async (job: Job<{ flowId: string }>) => {
        const tick = Number(String(job.id).split(":").pop());
        await this.opts.onTick(job.data.flowId, Number.isFinite(tick) ? tick : job.timestamp);
        const next = (await this.queue.getJobScheduler(schedulerId(job.data.flowId)))?.next;
        if (next) await this.opts.store.setNextRun(job.data.flowId, next);
      },
      { connection: { url: this.opts.redisUrl, maxRetriesPerRequest: null }, prefix: this.opts.prefix, concurrency: this.opts.concurrency ?? 8 },
    );
    this.worker.on("error", (err) => this.opts.log.warn({ err }, "trigger worker error"));
  }

  async close(): Promise<void> {
    await this.worker?.close();
    await this.queue.close();
  }
}
